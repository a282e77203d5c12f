using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Evaluation;

/// <summary>Which step of the decision procedure decided.</summary>
public enum DecisionSource
{
    /// <summary>The task's architecture is not covered (step 2).</summary>
    BadArch,
    /// <summary>A conditional rule of the syscall matched (step 3).</summary>
    Rule,
    /// <summary>The syscall is named but no rule matched, or it has only an unconditional action (step 3).</summary>
    SyscallFallback,
    /// <summary>runc's -ENOSYS stub (step 4).</summary>
    EnosysStub,
    /// <summary>The profile's default action (step 5).</summary>
    Default,
}

/// <summary>A verdict and what produced it.</summary>
/// <param name="Action">The verdict.</param>
/// <param name="Source">The step that decided.</param>
/// <param name="RuleIndex">Index into the syscall's Rules when Source is Rule, else -1.</param>
/// <param name="Rule">The matching rule, when Source is Rule.</param>
public sealed record Decision(CompiledAction Action, DecisionSource Source, int RuleIndex = -1, CompiledRule? Rule = null);

/// <summary>The reference evaluator: the decision procedure of CompiledProfile.cs, shared with the BPF side.</summary>
public static class ReferenceEvaluator
{
    /// <summary>Decides a syscall against a compiled profile. <paramref name="args"/> holds up to six arguments (missing ones are 0).</summary>
    public static Decision Evaluate(CompiledProfile profile, uint auditArch, uint nr, ReadOnlySpan<ulong> args)
    {
        CompiledArch? arch = null;
        foreach (var a in profile.Arches)
            if (a.AuditArch == auditArch) { arch = a; break; }
        if (arch is null) return new Decision(profile.BadArchAction, DecisionSource.BadArch);

        var syscall = Find(arch.Syscalls, nr);
        if (syscall is not null)
        {
            for (int i = 0; i < syscall.Rules.Count; i++)
                if (Matches(syscall.Rules[i], args))
                    return new Decision(syscall.Rules[i].Action, DecisionSource.Rule, i, syscall.Rules[i]);
            return new Decision(syscall.Fallback, DecisionSource.SyscallFallback);
        }
        if (arch.EnosysFromNr is { } from && nr >= from)
            return new Decision(CompiledAction.Errno(38), DecisionSource.EnosysStub);
        return new Decision(arch.DefaultAction, DecisionSource.Default);
    }

    /// <summary>Convenience: compiles <paramref name="profile"/> for <paramref name="context"/> and evaluates syscall <paramref name="name"/> of <paramref name="arch"/>.</summary>
    public static Decision Evaluate(SeccompProfile profile, CompileContext context, SyscallArch arch, string name, ReadOnlySpan<ulong> args)
    {
        var compiled = ProfileCompiler.Compile(profile, context).Profile;
        uint nr = SyscallTables.Resolve(arch, name) ?? throw new ProfileException($"{name} is not a syscall on {SyscallTables.ScmpName(arch)}");
        return Evaluate(compiled, SyscallTables.AuditArchOf(arch), nr, args);
    }

    /// <summary>All checks of a rule hold (full 64-bit comparisons).</summary>
    public static bool Matches(CompiledRule rule, ReadOnlySpan<ulong> args)
    {
        foreach (var check in rule.Checks)
        {
            ulong arg = check.Index < args.Length ? args[check.Index] : 0;
            bool ok = check.Op switch
            {
                CompareOp.NotEqual => arg != check.Value,
                CompareOp.LessThan => arg < check.Value,
                CompareOp.LessOrEqual => arg <= check.Value,
                CompareOp.Equal => arg == check.Value,
                CompareOp.GreaterOrEqual => arg >= check.Value,
                CompareOp.GreaterThan => arg > check.Value,
                CompareOp.MaskedEqual => (arg & check.Value) == check.Datum,
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }

    private static CompiledSyscall? Find(IReadOnlyList<CompiledSyscall> sorted, uint nr)
    {
        int lo = 0, hi = sorted.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            uint v = sorted[mid].Nr;
            if (v == nr) return sorted[mid];
            if (v < nr) lo = mid + 1; else hi = mid - 1;
        }
        return null;
    }
}

/// <summary>The kernel's rule for combining stacked filters: the highest-precedence action wins (only the action part counts).</summary>
public static class ActionPrecedence
{
    /// <summary>Combines the verdict of a newer filter with an older one; on equal actions the newer filter's data wins, as the kernel evaluates newest first.</summary>
    public static CompiledAction Combine(CompiledAction newer, CompiledAction older) => older.Kind > newer.Kind ? older : newer;

    /// <summary>Combines verdicts listed newest filter first.</summary>
    public static CompiledAction Combine(IEnumerable<CompiledAction> newestFirst)
    {
        CompiledAction? result = null;
        foreach (var a in newestFirst) result = result is null ? a : Combine(result.Value, a);
        return result ?? CompiledAction.Allow;
    }
}
