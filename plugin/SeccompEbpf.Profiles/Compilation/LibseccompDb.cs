using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Profiles.Compilation;

// A port of the rule database of libseccomp 2.5.4 (src/db.c: _db_rule_gen_arg_64/_32, _db_tree_prune,
// _db_tree_add, db_rule_add). Overlapping rules for one syscall are resolved by this tree, not by profile
// order, and the tree decides which combinations are refused with EEXIST; the only faithful way to get the
// same verdicts is to build the same tree. Evaluation order is the order gen_bpf.c emits: each level is a
// sorted sibling list, a failed sub-tree falls back to the next sibling (depth-first backtracking).

internal enum DbOp : byte { Eq, Gt, Ge, MaskedEq }

internal sealed class DbNode
{
    public int Arg;
    public bool ArgHi;
    public DbOp Op;
    public CompareOp OpOrig;
    public uint Mask;
    public uint Datum;
    public ulong DatumFull;
    public DbNode? LvlPrv, LvlNxt, NxtT, NxtF;
    public bool ActTFlg, ActFFlg;
    public CompiledAction ActT, ActF;
    public bool Removed;
}

internal sealed class DbSyscall
{
    public uint Nr;
    public DbNode? Chains;
    public CompiledAction Action;
    public bool Is32Bit;
}

/// <summary>libseccomp refused a rule (EEXIST or EINVAL); runc fails the container on this.</summary>
internal sealed class LibseccompRuleException(string message) : Exception(message)
{
    public uint? Nr { get; init; }
    public object? Key { get; init; }
}

internal readonly record struct ApiArg(bool Valid, int Arg, CompareOp Op, ulong Mask, ulong Datum);

internal sealed class LibseccompDb(bool is32Bit)
{
    private const uint FlagMatch = 0x1, FlagMatchOnce = 0x2, FlagXFinished = 0x10, FlagNFinished = 0x20, FlagXPrefix = 0x100, FlagNPrefix = 0x200;
    private const uint MatchSet = FlagMatch | FlagMatchOnce;
    private const uint Redundant = FlagMatch | FlagXFinished | FlagNPrefix;

    private struct IterState
    {
        public uint Flags;
        public CompiledAction Action;
        public DbSyscall Sx;
    }

    public SortedDictionary<uint, DbSyscall> Syscalls { get; } = [];

    // libseccomp 2.5.4 never finishes adding some rule combinations (its level lists become cyclic); runc then hangs.
    // The port follows the same steps, so a step budget turns that into a refusal instead of a hang.
    private const int StepBudget = 2_000_000;
    [ThreadStatic] private static int steps;

    private static void Step()
    {
        if (++steps > StepBudget)
            throw new LibseccompRuleException("libseccomp 2.5.4 does not finish adding this rule (its rule tree loops); runc would hang creating the container");
    }

    /// <summary>seccomp_rule_add_array: <paramref name="conditions"/> as (index, op, value, valueTwo).</summary>
    public void AddRule(uint nr, CompiledAction action, IReadOnlyList<(uint Index, CompareOp Op, ulong Value, ulong ValueTwo)> conditions)
    {
        var chain = new ApiArg[6];
        foreach (var c in conditions)
        {
            if (c.Index >= 6 || chain[c.Index].Valid)
                throw new LibseccompRuleException("EINVAL: the same argument index appears twice in one rule");
            chain[c.Index] = c.Op == CompareOp.MaskedEqual
                ? new ApiArg(true, (int)c.Index, c.Op, c.Value, c.ValueTwo)
                : new ApiArg(true, (int)c.Index, c.Op, ulong.MaxValue, c.Value);
        }
        RuleAdd(nr, action, chain);
    }

    private (DbNode? Chains, CompiledAction Action) Generate(CompiledAction action, ApiArg[] chain)
    {
        DbNode? chains = null;
        var prev = new List<DbNode>();
        bool tf = false;
        for (int i = 0; i < 6; i++)
        {
            if (is32Bit) GenArg32(ref chains, chain[i], prev, ref tf);
            else GenArg64(ref chains, chain[i], prev, ref tf);
        }
        if (chains is not null)
        {
            foreach (var p in prev)
            {
                if (tf) { p.ActTFlg = true; p.ActT = action; }
                else { p.ActFFlg = true; p.ActF = action; }
            }
        }
        return (chains, action);
    }

    private static bool NeedLo(ApiArg a) => !(a.Op == CompareOp.MaskedEqual && (uint)a.Mask == 0);
    private static bool NeedHi(ApiArg a) => !(a.Op == CompareOp.MaskedEqual && (uint)(a.Mask >> 32) == 0);

    private static void GenArg64(ref DbNode? chains, ApiArg a, List<DbNode> prev, ref bool tf)
    {
        if (!a.Valid) return;
        if (!NeedHi(a) && !NeedLo(a)) return;
        var c0 = new DbNode();
        var c1 = new DbNode();
        var c2 = new DbNode();
        foreach (var p in prev)
        {
            if (tf) p.NxtT = c0; else p.NxtF = c0;
        }
        prev.Clear();
        uint maskHi = (uint)(a.Mask >> 32), maskLo = (uint)a.Mask, datumHi = (uint)(a.Datum >> 32), datumLo = (uint)a.Datum;
        switch (a.Op)
        {
            case CompareOp.GreaterThan or CompareOp.GreaterOrEqual or CompareOp.LessOrEqual or CompareOp.LessThan:
                Set(c0, a, true, maskHi, datumHi, DbOp.Gt);
                Set(c1, a, true, maskHi, datumHi, DbOp.Eq);
                Set(c2, a, false, maskLo, datumLo, a.Op is CompareOp.GreaterThan or CompareOp.LessOrEqual ? DbOp.Gt : DbOp.Ge);
                c0.NxtF = c1;
                c1.NxtT = c2;
                break;
            default:
                var op = a.Op == CompareOp.MaskedEqual ? DbOp.MaskedEq : DbOp.Eq;
                Set(c0, a, true, maskHi, datumHi, op);
                Set(c1, a, false, maskLo, datumLo, op);
                c0.NxtT = c1;
                break;
        }
        chains ??= c0;
        switch (a.Op)
        {
            case CompareOp.GreaterThan or CompareOp.GreaterOrEqual: prev.Add(c0); prev.Add(c2); tf = true; break;
            case CompareOp.Equal or CompareOp.MaskedEqual: prev.Add(c1); tf = true; break;
            case CompareOp.LessOrEqual or CompareOp.LessThan: prev.Add(c1); prev.Add(c2); tf = false; break;
            default: prev.Add(c0); prev.Add(c1); tf = false; break;
        }

        static void Set(DbNode n, ApiArg a, bool hi, uint mask, uint datum, DbOp op)
        {
            n.Arg = a.Arg;
            n.ArgHi = hi;
            n.Mask = mask;
            n.Datum = datum & mask;
            n.DatumFull = a.Datum;
            n.Op = op;
            n.OpOrig = a.Op;
        }
    }

    private static void GenArg32(ref DbNode? chains, ApiArg a, List<DbNode> prev, ref bool tf)
    {
        if (!a.Valid || !NeedLo(a)) return;
        var c = new DbNode
        {
            Arg = a.Arg,
            ArgHi = false,
            OpOrig = a.Op,
            Mask = (uint)a.Mask,
            Datum = (uint)a.Datum,
            DatumFull = a.Datum,
        };
        foreach (var p in prev)
        {
            if (tf) p.NxtT = c; else p.NxtF = c;
        }
        prev.Clear();
        prev.Add(c);
        chains ??= c;
        switch (a.Op)
        {
            case CompareOp.NotEqual: c.Op = DbOp.Eq; tf = false; break;
            case CompareOp.LessThan: c.Op = DbOp.Ge; tf = false; break;
            // libseccomp 2.5.4 assigns the local pointer here ("tf_flag = false;"), so the flag keeps its previous value.
            case CompareOp.LessOrEqual: c.Op = DbOp.Gt; break;
            case CompareOp.Equal: c.Op = DbOp.Eq; tf = true; break;
            case CompareOp.GreaterOrEqual: c.Op = DbOp.Ge; tf = true; break;
            case CompareOp.GreaterThan: c.Op = DbOp.Gt; tf = true; break;
            default: c.Op = DbOp.MaskedEq; tf = true; break;
        }
        c.Datum &= c.Mask;
    }

    private void RuleAdd(uint nr, CompiledAction action, ApiArg[] chain)
    {
        steps = 0;
        var (newChains, newAction) = Generate(action, chain);
        if (!Syscalls.TryGetValue(nr, out var sx))
        {
            Syscalls[nr] = new DbSyscall { Nr = nr, Chains = newChains, Action = newAction, Is32Bit = is32Bit };
            return;
        }
        bool removed = false;
        while (true)
        {
            if (sx.Chains is null)
            {
                if (removed)
                {
                    sx.Chains = newChains;
                    sx.Action = newAction;
                }
                // Otherwise the existing unconditional rule is at least as broad: the new rule is dropped.
                return;
            }
            if (newChains is null)
            {
                sx.Chains = null;
                sx.Action = action;
                return;
            }
            var state = new IterState { Action = action, Sx = sx };
            int rc = Prune(ref sx.Chains, newChains, ref state);
            if (rc > 0)
            {
                removed = true;
                if (sx.Chains is null) continue;
            }
            else if ((state.Flags & Redundant) == Redundant)
            {
                return;
            }
            var addState = new IterState { Sx = sx };
            if (TreeAdd(ref sx.Chains, newChains, ref addState) < 0)
                throw new LibseccompRuleException("EEXIST: a rule with the same conditions and a different action already exists");
            return;
        }
    }

    private static int ArgPriority(DbNode n) => (n.Arg << 1) + (n.ArgHi ? 1 : 0);

    private static int OpPriority(CompareOp op) => op switch
    {
        CompareOp.MaskedEqual or CompareOp.Equal or CompareOp.NotEqual => 3,
        CompareOp.LessOrEqual or CompareOp.LessThan => 2,
        _ => 1,
    };

    internal static bool ChainLt(DbNode a, DbNode b)
    {
        int aa = ArgPriority(a), ba = ArgPriority(b);
        if (aa != ba) return aa < ba;
        int ao = OpPriority(a.OpOrig), bo = OpPriority(b.OpOrig);
        if (ao != bo) return ao < bo;
        return a.OpOrig is CompareOp.LessOrEqual or CompareOp.LessThan ? a.Datum > b.Datum : a.Datum < b.Datum;
    }

    private static bool ChainEq(DbNode a, DbNode b) =>
        ArgPriority(a) == ArgPriority(b) && a.Op == b.Op && a.Datum == b.Datum && a.Mask == b.Mask;

    private static bool Leaf(DbNode n) => n.NxtT is null && n.NxtF is null;
    private static bool Zombie(DbNode n) => Leaf(n) && !n.ActTFlg && !n.ActFFlg;

    internal static DbNode Head(DbNode n)
    {
        while (n.LvlPrv is not null) { Step(); n = n.LvlPrv; }
        return n;
    }

    private static int ActCheck(DbNode? tree, CompiledAction action)
    {
        if (tree is null) return 0;
        for (var c = Head(tree); c is not null; c = c.LvlNxt)
        {
            Step();
            if (c.ActTFlg && c.ActT != action) return -1;
            if (c.ActFFlg && c.ActF != action) return -1;
            if (ActCheck(c.NxtT, action) < 0) return -1;
            if (ActCheck(c.NxtF, action) < 0) return -1;
        }
        return 0;
    }

    private static int TreeRemove(ref DbNode? tree, DbNode node)
    {
        if (tree is null) return 0;
        int cnt = 0;
        var c = Head(tree);
        do
        {
            Step();
            if (ReferenceEquals(c, node)) return cnt + Remove(ref tree, c);
            cnt += TreeRemove(ref c.NxtT, node);
            cnt += TreeRemove(ref c.NxtF, node);
            if (Zombie(c)) return cnt + Remove(ref tree, c);
            c = c.LvlNxt!;
        } while (c is not null && cnt == 0);
        return cnt;

        static int Remove(ref DbNode? tree, DbNode c)
        {
            if (ReferenceEquals(c, tree)) tree = c.LvlPrv ?? c.LvlNxt;
            if (c.LvlPrv is not null) c.LvlPrv.LvlNxt = c.LvlNxt;
            if (c.LvlNxt is not null) c.LvlNxt.LvlPrv = c.LvlPrv;
            c.LvlPrv = null;
            c.LvlNxt = null;
            c.Removed = true;
            return 1;
        }
    }

    private static int Prune(ref DbNode? existing, DbNode? n, ref IterState state)
    {
        int cnt = 0;
        var stateNew = state;
        var x = existing;
        if (n is null || x is null) goto Return;
        if ((state.Flags & MatchSet) == FlagMatchOnce) goto Return;
        x = Head(x);
        do
        {
            Step();
            var xNext = x.LvlNxt;
            if (ChainEq(x, n))
            {
                stateNew.Flags |= MatchSet;
                if (Leaf(n)) stateNew.Flags |= FlagNFinished;
                if (Leaf(x)) stateNew.Flags |= FlagXFinished;
                if ((x.ActTFlg || x.NxtT is not null) && !(n.ActTFlg || n.NxtT is not null)) goto Return;
                if ((x.ActFFlg || x.NxtF is not null) && !(n.ActFFlg || n.NxtF is not null)) goto Return;
                if ((stateNew.Flags & FlagNFinished) != 0 && (stateNew.Flags & FlagXFinished) != 0)
                {
                    if (n.ActTFlg != x.ActTFlg || n.ActT != x.ActT) goto Return;
                    if (n.ActFFlg != x.ActFFlg || n.ActF != x.ActF) goto Return;
                }
                if (n.NxtT is not null)
                {
                    var s = state;
                    s.Flags |= MatchSet;
                    cnt += Prune(ref x.NxtT, n.NxtT, ref s);
                    if ((s.Flags & FlagMatch) != 0) stateNew.Flags |= s.Flags;
                    if (x.Removed) goto Next;
                }
                if (n.NxtF is not null)
                {
                    var s = state;
                    s.Flags |= MatchSet;
                    cnt += Prune(ref x.NxtF, n.NxtF, ref s);
                    if ((s.Flags & FlagMatch) != 0) stateNew.Flags |= s.Flags;
                    if (x.Removed) goto Next;
                }
                if (ActCheck(x, stateNew.Action) == 0 && (stateNew.Flags & FlagMatch) != 0 &&
                    (stateNew.Flags & FlagNFinished) != 0 && (stateNew.Flags & FlagXPrefix) != 0)
                {
                    cnt += TreeRemove(ref state.Sx.Chains, x);
                    if (state.Sx.Chains is null) goto Return;
                }
                else if (ActCheck(x, stateNew.Action) == 0 && (stateNew.Flags & FlagMatch) != 0 &&
                         (stateNew.Flags & FlagXFinished) != 0 && (stateNew.Flags & FlagNPrefix) != 0)
                {
                    goto Return;
                }
            }
            else if (ChainLt(x, n))
            {
                if ((state.Flags & FlagNPrefix) != 0) goto Return;
                if (x.NxtT is not null)
                {
                    var s = state;
                    s.Flags &= ~FlagMatch;
                    s.Flags |= FlagXPrefix;
                    cnt += Prune(ref x.NxtT, n, ref s);
                    if ((s.Flags & FlagMatch) != 0) { stateNew.Flags |= s.Flags; goto Return; }
                    if (x.Removed) goto Next;
                }
                if (x.NxtF is not null)
                {
                    var s = state;
                    s.Flags &= ~FlagMatch;
                    s.Flags |= FlagXPrefix;
                    cnt += Prune(ref x.NxtF, n, ref s);
                    if ((s.Flags & FlagMatch) != 0) { stateNew.Flags |= s.Flags; goto Return; }
                    if (x.Removed) goto Next;
                }
            }
            else
            {
                if ((state.Flags & FlagXPrefix) != 0) goto Return;
                if (n.NxtT is not null)
                {
                    var s = state;
                    s.Flags &= ~FlagMatch;
                    s.Flags |= FlagNPrefix;
                    DbNode? local = x;
                    cnt += Prune(ref local, n.NxtT, ref s);
                    if ((s.Flags & FlagMatch) != 0) { stateNew.Flags |= s.Flags; goto Return; }
                    if (x.Removed) goto Next;
                }
                if (n.NxtF is not null)
                {
                    var s = state;
                    s.Flags &= ~FlagMatch;
                    s.Flags |= FlagNPrefix;
                    DbNode? local = x;
                    cnt += Prune(ref local, n.NxtF, ref s);
                    if ((s.Flags & FlagMatch) != 0) { stateNew.Flags |= s.Flags; goto Return; }
                    if (x.Removed) goto Next;
                }
            }
        Next:
            x = xNext!;
        } while (x is not null);
        stateNew.Flags &= ~FlagMatch;
    Return:
        if ((stateNew.Flags & FlagMatch) != 0) state.Flags |= stateNew.Flags;
        else state.Flags &= ~FlagMatch;
        return cnt;
    }

    private static int TreeAdd(ref DbNode? existing, DbNode n, ref IterState state)
    {
        var x = existing!;
        do
        {
            Step();
            if (ChainEq(x, n))
            {
                if (n.ActTFlg)
                {
                    if (!x.ActTFlg)
                    {
                        if (ActCheck(x.NxtT, n.ActT) != 0) return -1;
                        x.NxtT = null;
                        x.ActT = n.ActT;
                        x.ActTFlg = true;
                    }
                    else if (n.ActT != x.ActT)
                    {
                        if (n.ArgHi && n.DatumFull > x.DatumFull) x.ActT = n.ActT;
                        if (Leaf(x) || Leaf(n)) return -1;
                    }
                }
                if (n.ActFFlg)
                {
                    if (!x.ActFFlg)
                    {
                        if (ActCheck(x.NxtF, n.ActF) != 0) return -1;
                        x.NxtF = null;
                        x.ActF = n.ActF;
                        x.ActFFlg = true;
                    }
                    else if (n.ActF != x.ActF)
                    {
                        // libseccomp 2.5.4 updates act_t here, not act_f; reproduced as is.
                        if (n.ArgHi && n.DatumFull < x.DatumFull) x.ActT = n.ActT;
                        if (Leaf(x) || Leaf(n)) return -1;
                    }
                }
                if (n.NxtT is not null)
                {
                    if (x.NxtT is not null)
                    {
                        int rc = TreeAdd(ref x.NxtT, n.NxtT, ref state);
                        if (rc != 0) return rc;
                    }
                    else if (!x.ActTFlg) x.NxtT = n.NxtT;
                    else return 0;
                }
                if (n.NxtF is not null)
                {
                    if (x.NxtF is not null)
                    {
                        int rc = TreeAdd(ref x.NxtF, n.NxtF, ref state);
                        if (rc != 0) return rc;
                    }
                    else if (!x.ActFFlg) x.NxtF = n.NxtF;
                    else return 0;
                }
                return 0;
            }
            else if (!ChainLt(x, n))
            {
                if (x.LvlNxt is null)
                {
                    n.LvlPrv = x;
                    x.LvlNxt = n;
                    return 0;
                }
                x = x.LvlNxt;
            }
            else
            {
                if (x.LvlPrv is not null)
                {
                    x.LvlPrv.LvlNxt = n;
                    n.LvlPrv = x.LvlPrv;
                    x.LvlPrv = n;
                    n.LvlNxt = x;
                }
                else
                {
                    x.LvlPrv = n;
                    n.LvlNxt = x;
                }
                if (ReferenceEquals(existing, x)) existing = n;
                return 0;
            }
        } while (x is not null);
        return 0;
    }
}
