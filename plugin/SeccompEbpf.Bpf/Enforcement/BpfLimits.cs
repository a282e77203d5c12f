using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>One bound of the BPF evaluator a profile exceeds, for the syscall <paramref name="Nr"/> of <paramref name="AuditArch"/>.</summary>
public sealed record BpfLimitProblem(uint AuditArch, uint Nr, string Message);

/// <summary>
/// The bounds of the BPF evaluator that a compiled profile can exceed, checked without a kernel, root or BPF: what
/// `profile validate` and the profile store run before a profile is ever bound, so an oversized profile is refused
/// where it is loaded instead of failing at bind time on a container's start.
/// </summary>
public static class BpfLimits
{
    /// <summary>Rule entries one syscall may use (SC_MAX_RULES_PER_SYSCALL in bpf/seccomp.h: the bound of the rule loop).</summary>
    public const int MaxRuleEntriesPerSyscall = EnforcementPlanner.MaxRuleEntriesPerSyscall;

    /// <summary>Argument checks per rule entry (SC_MAX_CHECKS); a rule with more spans continued entries.</summary>
    public const int ChecksPerEntry = EnforcementPlanner.ChecksPerEntry;

    /// <summary>Every bound of the BPF evaluator <paramref name="profile"/> exceeds, one message per syscall; empty when it fits.</summary>
    public static IReadOnlyList<BpfLimitProblem> Check(CompiledProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var problems = new List<BpfLimitProblem>();
        foreach (var arch in profile.Arches)
        {
            foreach (var syscall in arch.Syscalls)
            {
                int entries = EnforcementPlanner.RuleEntries(syscall);
                if (entries > MaxRuleEntriesPerSyscall)
                    problems.Add(new BpfLimitProblem(arch.AuditArch, syscall.Nr, $"{SyscallTable.Describe(arch.AuditArch, syscall.Nr)} has {syscall.Rules.Count} argument rules needing {entries} " +
                                 $"rule entries of up to {ChecksPerEntry} checks; the BPF evaluator takes at most {MaxRuleEntriesPerSyscall} per syscall"));
            }
        }
        return problems;
    }
}
