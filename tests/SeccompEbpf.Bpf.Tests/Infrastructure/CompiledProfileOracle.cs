using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>
/// TEST ORACLE: the decision procedure documented in CompiledProfile.cs, written independently of the BPF
/// code, to predict what the kernel side must decide. (Replace with the profile engine's evaluator once it exists.)
/// </summary>
internal static class CompiledProfileOracle
{
    internal static CompiledAction Decide(CompiledProfile profile, uint auditArch, uint nr, IReadOnlyList<ulong> args)
    {
        var arch = profile.Arches.FirstOrDefault(a => a.AuditArch == auditArch);
        if (arch is null)
            return profile.BadArchAction;
        var syscall = arch.Syscalls.FirstOrDefault(s => s.Nr == nr);
        if (syscall is not null)
        {
            foreach (var rule in syscall.Rules)
                if (rule.Checks.All(c => Holds(c, args[c.Index])))
                    return rule.Action;
            return syscall.Fallback;
        }
        if (arch.EnosysFromNr is { } from && nr >= from)
            return CompiledAction.Errno(38);
        return arch.DefaultAction;
    }

    private static bool Holds(ArgCheck check, ulong arg) => check.Op switch
    {
        CompareOp.NotEqual => arg != check.Value,
        CompareOp.LessThan => arg < check.Value,
        CompareOp.LessOrEqual => arg <= check.Value,
        CompareOp.Equal => arg == check.Value,
        CompareOp.GreaterOrEqual => arg >= check.Value,
        CompareOp.GreaterThan => arg > check.Value,
        CompareOp.MaskedEqual => (arg & check.Value) == check.Datum,
        _ => throw new ArgumentOutOfRangeException(nameof(check), check.Op, "unknown operator"),
    };
}
