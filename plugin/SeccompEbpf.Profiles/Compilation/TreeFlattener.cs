using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Profiles.Compilation;

/// <summary>Turns a libseccomp decision tree into the ordered first-match rule list of the compiled form.</summary>
internal static class TreeFlattener
{
    public const int MaxRulesPerSyscall = 4096;

    private sealed class Word
    {
        public uint Min;
        public uint Max = uint.MaxValue;
        public readonly List<uint> NotEqual = [];
        public readonly List<List<(uint Mask, uint Value)>> Disjunctions = [];
        public uint MaskBits, MaskValue;
        public bool Unsatisfiable;
        public bool Touched;

        public Word Clone()
        {
            var w = new Word { Min = Min, Max = Max, MaskBits = MaskBits, MaskValue = MaskValue, Unsatisfiable = Unsatisfiable, Touched = Touched };
            w.NotEqual.AddRange(NotEqual);
            w.Disjunctions.AddRange(Disjunctions);
            return w;
        }

        /// <summary>Expands each disjunction of masked equalities into separate words (alternatives may overlap; all lead to the same action).</summary>
        public List<Word> ExpandDisjunctions()
        {
            var result = new List<Word> { this };
            foreach (var alternatives in Disjunctions)
            {
                var next = new List<Word>();
                foreach (var w in result)
                    foreach (var (mask, value) in alternatives)
                    {
                        var alt = w.Clone();
                        alt.Disjunctions.Clear();
                        alt.AddMasked(mask, value);
                        if (!alt.Unsatisfiable) next.Add(alt);
                    }
                result = next;
                if (result.Count > 1024) throw new NotRepresentableException("too many alternatives for masked comparisons");
            }
            foreach (var w in result) w.Disjunctions.Clear();
            return result;
        }

        public void AddMasked(uint mask, uint value)
        {
            if ((value & ~mask) != 0 || ((MaskBits & mask) & (MaskValue ^ value)) != 0) Unsatisfiable = true;
            MaskBits |= mask;
            MaskValue |= value & mask;
        }

        // (w & m) > d, as disjoint masked equalities: the highest bit where they differ is set in w and clear in d.
        private static IEnumerable<(uint, uint)> Greater(uint m, uint d)
        {
            for (int b = 31; b >= 0; b--)
            {
                uint bit = 1u << b, above = b == 31 ? 0 : ~((bit << 1) - 1);
                if ((m & bit) == 0)
                {
                    if ((d & bit) != 0) yield break; // w has 0 here and d has 1: w is smaller from here on
                    continue;
                }
                if ((d & bit) == 0) yield return ((m & above) | bit, (d & m & above) | bit);
            }
        }

        // (w & m) < d: the highest differing bit is clear in w and set in d.
        private static IEnumerable<(uint, uint)> Less(uint m, uint d)
        {
            for (int b = 31; b >= 0; b--)
            {
                uint bit = 1u << b, above = b == 31 ? 0 : ~((bit << 1) - 1);
                if ((m & bit) == 0)
                {
                    if ((d & bit) != 0) { yield return (m & above, d & m & above); yield break; }
                    continue;
                }
                if ((d & bit) != 0) yield return ((m & above) | bit, d & m & above);
            }
        }

        private void AddDisjunction(IEnumerable<(uint, uint)> alternatives)
        {
            var list = alternatives.ToList();
            if (list.Count == 0) Unsatisfiable = true;
            else if (!list.Contains((0u, 0u))) Disjunctions.Add(list);
        }

        /// <summary>Adds "(word &amp; mask) op datum" (op is the BPF jump: JEQ, JGT or JGE) with the given outcome.</summary>
        public void Apply(DbOp op, uint mask, uint d, bool outcome)
        {
            Touched = true;
            if (mask != uint.MaxValue)
            {
                var equal = (d & ~mask) == 0 ? new[] { (mask, d) } : [];
                switch (op, outcome)
                {
                    case (DbOp.Eq or DbOp.MaskedEq, true): AddMasked(mask, d); break;
                    // A failed check only narrows what earlier rules already decide: rules are emitted true-branch
                    // first and every path gets a rule, so dropping it keeps first-match semantics (see Flatten).
                    case (DbOp.Eq or DbOp.MaskedEq, false): break;
                    case (DbOp.Gt, true): AddDisjunction(Greater(mask, d)); break;
                    case (DbOp.Gt, false): break;
                    case (DbOp.Ge, true): AddDisjunction(Greater(mask, d).Concat(equal)); break;
                    case (DbOp.Ge, false): break;
                }
                return;
            }
            switch (op, outcome)
            {
                case (DbOp.Eq or DbOp.MaskedEq, true): Min = Math.Max(Min, d); Max = Math.Min(Max, d); break;
                case (DbOp.Eq or DbOp.MaskedEq, false): NotEqual.Add(d); break;
                case (DbOp.Gt, true): if (d == uint.MaxValue) Unsatisfiable = true; else Min = Math.Max(Min, d + 1); break;
                case (DbOp.Gt, false): Max = Math.Min(Max, d); break;
                case (DbOp.Ge, true): Min = Math.Max(Min, d); break;
                case (DbOp.Ge, false): if (d == 0) Unsatisfiable = true; else Max = Math.Min(Max, d - 1); break;
            }
            if (Min > Max) Unsatisfiable = true;
        }
    }

    /// <summary>The filter libseccomp generates compares something the compiled form has no check for.</summary>
    internal sealed class NotRepresentableException(string what) : Exception($"libseccomp's filter for this syscall performs {what}, which the compiled form cannot express");

    // libseccomp 2.5.4's gen_bpf.c emits one block per tree node: an optional argument load, an optional AND, and
    // one conditional jump. A block loads the argument only when the accumulator state assumed at generation time
    // differs; when the blocks are laid out, a block gets a load prepended only if the block that first pulls it in
    // leaves the accumulator in another state. Other jumps into the same block (a failed deeper level falling back
    // to a sibling) then compare whatever word is still loaded. To say what the kernel will really do, the flattener
    // generates and lays out the blocks the same way and executes them symbolically.
    private const int OffsetUndefined = -1, OffsetSyscall = -2;

    private readonly record struct AccState(int Offset, uint Mask);

    private static readonly AccState Undefined = new(OffsetUndefined, uint.MaxValue);

    private sealed class Block
    {
        public AccState AccStart, AccEnd;
        public bool Load;
        public int LoadOffset;
        public bool PrependedLoad;
        public uint PrependedMask = uint.MaxValue;
        public bool And;
        public uint AndMask;
        public DbOp Op;
        public uint Datum;
        public object? Jt, Jf; // Block, CompiledAction, or a pending DbNode level before resolution; null = next
        public bool Hashed, Placed;
        public int Id;
    }

    private sealed class Generator(CompiledAction defaultAction)
    {
        private readonly Dictionary<string, Block> table = [];
        private int nextId;

        private static int Slot(DbNode n) => n.Arg * 2 + (n.ArgHi ? 1 : 0);

        private static Block Node(DbNode node, ref AccState a)
        {
            var blk = new Block { AccStart = a, Op = node.Op, Datum = node.Datum };
            if (Slot(node) != a.Offset || (node.Mask & a.Mask) != node.Mask)
            {
                a = new AccState(Slot(node), uint.MaxValue);
                blk.Load = true;
                blk.LoadOffset = Slot(node);
                blk.AccStart = Undefined;
            }
            if (node.Mask != a.Mask)
            {
                a = a with { Mask = node.Mask };
                blk.And = true;
                blk.AndMask = node.Mask;
            }
            blk.Jt = node.NxtT is not null ? node.NxtT : node.ActTFlg ? node.ActT : null;
            blk.Jf = node.NxtF is not null ? node.NxtF : node.ActFFlg ? node.ActF : null;
            blk.AccEnd = a;
            return blk;
        }

        public Block Chain(DbNode chain, object nxtJump, AccState start)
        {
            var acc = start;
            var blocks = new List<Block>();
            foreach (var n in LevelOf(chain)) blocks.Add(Node(n, ref acc));
            for (int i = 0; i < blocks.Count; i++)
            {
                object next = i + 1 < blocks.Count ? blocks[i + 1] : nxtJump;
                blocks[i].Jt ??= next;
                blocks[i].Jf ??= next;
            }
            for (int i = blocks.Count - 1; i >= 0; i--)
            {
                object next = i + 1 < blocks.Count ? blocks[i + 1] : nxtJump;
                var resolved = Resolve(blocks[i], next);
                foreach (var b in blocks.Take(i))
                {
                    // Siblings that fall through to this block must see the deduplicated one.
                    if (ReferenceEquals(b.Jt, blocks[i])) b.Jt = resolved;
                    if (ReferenceEquals(b.Jf, blocks[i])) b.Jf = resolved;
                }
                blocks[i] = resolved;
            }
            return blocks[0];
        }

        private Block Resolve(Block blk, object nxtJump)
        {
            if (blk.Hashed) return blk;
            // libseccomp 2.5.4 generates a block's sub-levels assuming the accumulator as the block leaves it.
            if (blk.Jt is DbNode t) blk.Jt = Chain(t, nxtJump, blk.AccEnd);
            if (blk.Jf is DbNode f) blk.Jf = Chain(f, nxtJump, blk.AccEnd);
            string key = $"{(blk.Load ? blk.LoadOffset : -9)}|{blk.And}|{blk.AndMask}|{blk.Op}|{blk.Datum}|{TargetKey(blk.Jt)}|{TargetKey(blk.Jf)}";
            if (table.TryGetValue(key, out var existing)) return existing;
            blk.Hashed = true;
            blk.Id = nextId++;
            table[key] = blk;
            return blk;
        }

        private string TargetKey(object? target) => target switch
        {
            Block b => "B" + b.Id,
            CompiledAction a => "A" + a,
            _ => "A" + defaultAction,
        };
    }

    private static List<DbNode> LevelOf(DbNode any)
    {
        var list = new List<DbNode>();
        for (var n = Head(any); n is not null; n = n.LvlNxt)
        {
            list.Add(n);
            if (list.Count > 100_000) throw new LibseccompRuleException("libseccomp 2.5.4 builds a cyclic rule tree for this profile and never finishes generating the filter; runc would hang creating the container");
        }
        return list;
    }

    // _gen_bpf_build_bpf: repeatedly, the last laid-out block that jumps to a block not yet laid out pulls it in right
    // after itself, prepending a load when its own end state differs from the state the pulled block assumes. The
    // syscall dispatch blocks (leaving the syscall number loaded) are laid out first, in program order.
    private static List<Block> Layout(IEnumerable<Block?> syscallHeads)
    {
        var placed = syscallHeads.Select(h => (AccEnd: new AccState(OffsetSyscall, uint.MaxValue), Block: (Block?)null, Head: h)).ToList();
        bool pulled = true;
        while (pulled)
        {
            pulled = false;
            for (int i = placed.Count - 1; i >= 0 && !pulled; i--)
            {
                var (accEnd, b, h) = placed[i];
                object?[] targets = b is null ? [h] : [b.Jt, b.Jf];
                foreach (var target in targets)
                {
                    if (target is not Block t || t.Placed) continue;
                    if (t.AccStart.Offset != OffsetUndefined && t.AccStart != accEnd)
                    {
                        t.PrependedLoad = true;
                        t.LoadOffset = t.AccStart.Offset;
                        t.PrependedMask = t.AccStart.Mask;
                        t.AccStart = Undefined;
                    }
                    t.Placed = true;
                    placed.Insert(i + 1, (t.AccEnd, t, null));
                    pulled = true;
                    break;
                }
            }
        }
        return placed.Where(p => p.Block is not null).Select(p => p.Block!).ToList();
    }

    /// <summary>One architecture's filter as libseccomp orders it: the syscalls in program order.</summary>
    internal sealed record ArchFilter(object Key, IReadOnlyList<DbSyscall> ProgramOrder);

    // Flattening: every execution path of a syscall's code becomes rules, in depth-first order with the true branch
    // of each check first, and paths that end in the default action are emitted too. Every input then matches the
    // rule of its own path, and any earlier rule it also matches would have to take the true branch of a check the
    // input fails, which such a rule carries. So a first-match list stays exact even when the (costly to express)
    // constraints of failed checks are left out.

    /// <summary>
    /// Generates the code of every syscall of every architecture into one program (blocks are shared across syscalls
    /// when identical, as libseccomp's hash table does), lays it out, and flattens each syscall's code into rules.
    /// </summary>
    public static Dictionary<(object Key, uint Nr), List<CompiledRule>> FlattenProgram(IReadOnlyList<ArchFilter> filters, CompiledAction defaultAction)
    {
        var generator = new Generator(defaultAction);
        var heads = new Dictionary<(object, uint), Block>();
        foreach (var filter in filters)
            for (int i = filter.ProgramOrder.Count - 1; i >= 0; i--)
            {
                var sys = filter.ProgramOrder[i];
                if (sys.Chains is not null) heads[(filter.Key, sys.Nr)] = generator.Chain(sys.Chains, defaultAction, Undefined);
            }
        Layout(filters.SelectMany(f => f.ProgramOrder.Select(s => heads.GetValueOrDefault((f.Key, s.Nr)))));
        var result = new Dictionary<(object, uint), List<CompiledRule>>();
        foreach (var filter in filters)
            foreach (var sys in filter.ProgramOrder)
            {
                if (!heads.TryGetValue((filter.Key, sys.Nr), out var head)) continue;
                var output = new List<CompiledRule>();
                var words = new Word[12];
                for (int i = 0; i < words.Length; i++) words[i] = new Word();
                try
                {
                    Execute(head, new RuntimeAcc(-1, uint.MaxValue), words, sys.Is32Bit, defaultAction, output);
                }
                catch (NotRepresentableException ex)
                {
                    throw new LibseccompRuleException(ex.Message) { Nr = sys.Nr, Key = filter.Key };
                }
                catch (LibseccompRuleException ex)
                {
                    throw new LibseccompRuleException(ex.Message) { Nr = sys.Nr, Key = filter.Key };
                }
                result[(filter.Key, sys.Nr)] = output;
            }
        return result;
    }

    /// <summary>libseccomp's program order of one filter's syscalls: by priority (fewer tree nodes first), with its insertion quirks.</summary>
    internal static List<DbSyscall> ProgramOrder(IEnumerable<DbSyscall> bySyscallNumber)
    {
        // _gen_bpf_arch's insertion: walk while the new priority is <= the current one, stopping at the last element;
        // insert before the element where it stopped if the new priority is higher, else append. The list stays
        // sorted by descending priority, so the walk is a binary search for the first lower priority.
        var list = new List<(DbSyscall Sys, int Priority)>();
        foreach (var sys in bySyscallNumber)
        {
            int priority = 0xFFFF - CountNodes(sys.Chains);
            if (list.Count == 0) { list.Add((sys, priority)); continue; }
            int lo = 0, hi = list.Count - 1; // search [0, Count-1) for the first element with a lower priority
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (list[mid].Priority < priority) hi = mid; else lo = mid + 1;
            }
            if (priority > list[lo].Priority) list.Insert(lo, (sys, priority));
            else list.Add((sys, priority));
        }
        return list.Select(e => e.Sys).ToList();
    }

    private static int CountNodes(DbNode? chains)
    {
        if (chains is null) return 0;
        var seen = new HashSet<DbNode>(ReferenceEqualityComparer.Instance);
        void Visit(DbNode? n)
        {
            if (n is null) return;
            foreach (var node in LevelOf(n))
                if (seen.Add(node)) { Visit(node.NxtT); Visit(node.NxtF); }
        }
        Visit(chains);
        return seen.Count;
    }

    private readonly record struct RuntimeAcc(int Slot, uint Mask);

    private static void Execute(Block blk, RuntimeAcc acc, Word[] words, bool is32Bit, CompiledAction defaultAction, List<CompiledRule> output)
    {
        if (blk.PrependedLoad) acc = new RuntimeAcc(blk.LoadOffset, blk.PrependedMask);
        if (blk.Load) acc = new RuntimeAcc(blk.LoadOffset, uint.MaxValue);
        if (blk.And) acc = acc with { Mask = acc.Mask & blk.AndMask };
        if (acc.Slot < 0) throw new NotRepresentableException("a comparison of the syscall number as an argument");
        foreach (bool outcome in (ReadOnlySpan<bool>)[true, false])
        {
            var constrained = (Word[])words.Clone();
            constrained[acc.Slot] = words[acc.Slot].Clone();
            constrained[acc.Slot].Apply(blk.Op, acc.Mask, blk.Datum, outcome);
            if (constrained[acc.Slot].Unsatisfiable) continue;
            switch (outcome ? blk.Jt : blk.Jf)
            {
                case Block next:
                    Execute(next, acc, constrained, is32Bit, defaultAction, output);
                    break;
                case CompiledAction action:
                    Emit(constrained, is32Bit, action, output);
                    break;
            }
        }
    }

    private static DbNode Head(DbNode n)
    {
        for (int i = 0; n.LvlPrv is not null; i++)
        {
            if (i > 100_000) throw new LibseccompRuleException("libseccomp 2.5.4 builds a cyclic rule tree for this profile and never finishes generating the filter; runc would hang creating the container");
            n = n.LvlPrv;
        }
        return n;
    }

    private static void Emit(Word[] words, bool is32Bit, CompiledAction action, List<CompiledRule> output)
    {
        var perArg = new List<List<ArgCheck>>[6];
        for (int arg = 0; arg < 6; arg++)
        {
            var lo = words[arg * 2];
            var hi = words[arg * 2 + 1];
            if (!lo.Touched && !hi.Touched) { perArg[arg] = [[]]; continue; }
            if (is32Bit && !hi.Touched)
            {
                // libseccomp's 32-bit filters only load the low word; i386 arguments are zero-extended.
                hi = new Word { Min = 0, Max = 0, Touched = true };
            }
            var alternatives = new List<List<ArgCheck>>();
            foreach (var h in hi.ExpandDisjunctions())
                foreach (var l in lo.ExpandDisjunctions())
                    alternatives.AddRange(ArgAlternatives((byte)arg, h, l));
            if (alternatives.Count == 0) return;
            perArg[arg] = alternatives;
        }
        IEnumerable<List<ArgCheck>> product = [[]];
        foreach (var alts in perArg)
            product = product.SelectMany(p => alts.Select(a => p.Concat(a).ToList()));
        foreach (var checks in product)
        {
            if (output.Count >= MaxRulesPerSyscall)
                throw new LibseccompRuleException($"more than {MaxRulesPerSyscall} rules for one syscall");
            output.Add(new CompiledRule(checks, action));
        }
    }

    private static List<List<ArgCheck>> ArgAlternatives(byte arg, Word hi, Word lo)
    {
        var result = new List<List<ArgCheck>>();
        if (hi.Unsatisfiable || lo.Unsatisfiable) return result;
        bool loRange = lo.Min != 0 || lo.Max != uint.MaxValue || lo.NotEqual.Count > 0;
        if (hi.Min == hi.Max)
        {
            uint h = hi.Min;
            if (hi.NotEqual.Contains(h) || (h & hi.MaskBits) != hi.MaskValue) return result;
            ulong from = ((ulong)h << 32) | lo.Min, to = ((ulong)h << 32) | lo.Max;
            var checks = Interval(arg, from, to);
            foreach (uint ne in lo.NotEqual.Distinct())
                if (ne >= lo.Min && ne <= lo.Max)
                {
                    if (from == to) return result;
                    checks.Add(new ArgCheck(arg, CompareOp.NotEqual, ((ulong)h << 32) | ne));
                }
            if (lo.MaskBits != 0) checks.Add(new ArgCheck(arg, CompareOp.MaskedEqual, lo.MaskBits, lo.MaskValue));
            result.Add(checks);
            return result;
        }
        if (lo.NotEqual.Count > 0)
        {
            // Without a fixed high word, "low word != n" has no 64-bit check; it only comes from a failed check,
            // which first-match order makes redundant (see Flatten), so it is dropped.
            var relaxed = lo.Clone();
            relaxed.NotEqual.Clear();
            return ArgAlternatives(arg, hi, relaxed);
        }
        if (loRange)
        {
            // A stale accumulator can constrain the low word while the high word only has a range: cover the low
            // range with aligned blocks, each a masked equality on the low word.
            foreach (var (blockMask, prefix) in AlignedBlocks(lo.Min, lo.Max))
            {
                var block = lo.Clone();
                block.Min = 0;
                block.Max = uint.MaxValue;
                if (((block.MaskBits & blockMask) & (block.MaskValue ^ prefix)) != 0) continue;
                block.MaskBits |= blockMask;
                block.MaskValue |= prefix & blockMask;
                if (!block.Unsatisfiable) result.AddRange(ArgAlternatives(arg, hi, block));
            }
            return result;
        }
        ulong mask = ((ulong)hi.MaskBits << 32) | lo.MaskBits, value = ((ulong)hi.MaskValue << 32) | lo.MaskValue;
        var excluded = hi.NotEqual.Where(v => v >= hi.Min && v <= hi.Max).Distinct().OrderBy(v => v).ToList();
        ulong start = hi.Min;
        foreach (uint ex in excluded)
        {
            if (ex > start) AddSegment(start, (ulong)ex - 1);
            start = (ulong)ex + 1;
        }
        if (start <= hi.Max) AddSegment(start, hi.Max);
        return result;

        void AddSegment(ulong a, ulong b)
        {
            var checks = Interval(arg, a << 32, (b << 32) | 0xFFFFFFFFUL);
            if (mask != 0) checks.Add(new ArgCheck(arg, CompareOp.MaskedEqual, mask, value & mask));
            result.Add(checks);
        }
    }

    private static IEnumerable<(uint Mask, uint Prefix)> AlignedBlocks(uint from, uint to)
    {
        ulong c = from;
        while (c <= to)
        {
            int k = 0;
            while (k < 32 && (c & ((1UL << (k + 1)) - 1)) == 0 && c + (1UL << (k + 1)) - 1 <= to) k++;
            yield return ((uint)~((1UL << k) - 1), (uint)c);
            c += 1UL << k;
        }
    }

    private static List<ArgCheck> Interval(byte arg, ulong from, ulong to)
    {
        if (from == to) return [new ArgCheck(arg, CompareOp.Equal, from)];
        var checks = new List<ArgCheck>(2);
        if (from > 0) checks.Add(new ArgCheck(arg, CompareOp.GreaterOrEqual, from));
        if (to < ulong.MaxValue) checks.Add(new ArgCheck(arg, CompareOp.LessOrEqual, to));
        return checks;
    }
}
