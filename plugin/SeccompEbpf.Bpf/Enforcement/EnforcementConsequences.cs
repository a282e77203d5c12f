using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>What one seccomp action becomes on this kernel.</summary>
/// <param name="Action">The seccomp action.</param>
/// <param name="Enforcement">How it is carried out, in a sentence.</param>
/// <param name="WhenUnenforceable">What each UnenforceablePolicy does where it cannot be carried out; empty when it always can.</param>
public sealed record ActionConsequence(SeccompAction Action, string Enforcement, string WhenUnenforceable);

/// <summary>Per-action consequences of the probed capabilities (for `seccomp-ebpf doctor` and status pages).</summary>
public static class EnforcementConsequences
{
    /// <summary>The syscalls (x86_64 names) whose ERRNO/KILL/TRAP can be stopped at a BPF LSM hook (or its security_* function, through fmod_ret).</summary>
    public static IReadOnlyList<string> LsmEnforceableSyscalls
        => LsmHookTable.CoveredNumbers(SyscallTable.AuditArchX86_64).Select(nr => SyscallTable.NameOf(SyscallTable.AuditArchX86_64, nr)!)
            .Where(n => !n.EndsWith("(x32)", StringComparison.Ordinal)).ToList();

    /// <summary>One line per action.</summary>
    public static IReadOnlyList<ActionConsequence> For(KernelCapabilities capabilities)
    {
        bool lsm = capabilities.CanPreventSyscalls;
        bool sysEnter = capabilities.Has(KernelMechanism.RawTracepoint);
        bool signal = capabilities.Has(KernelMechanism.SendSignal);
        string table = $"the {LsmEnforceableSyscalls.Count} syscalls of the LSM hook table ({string.Join(", ", LsmEnforceableSyscalls.Take(6))}, ...)";
        string noPrevention = lsm
            ? "other syscalls reach no LSM hook and this kernel has no error injection"
            : $"BPF LSM unavailable ({capabilities[KernelMechanism.BpfLsm].ErrnoName}), no fmod_ret on security_* functions ({capabilities[KernelMechanism.FmodRetSecurity].ErrnoName}) and no error injection (fmod_ret {capabilities[KernelMechanism.FmodRet].ErrnoName}, kprobe override {capabilities[KernelMechanism.KprobeOverride].ErrnoName})";
        // where bpf is not an active LSM, the hooks' security_* callers are reached through fmod_ret instead
        string hook = capabilities.PreventsThroughFmodRet ? "fmod_ret on the security_* function of an LSM hook" : "a BPF LSM hook";
        const string policy = "LogUnpreventableDefault (the daemon's default): the profile's default action and ENOSYS answers are allowed, logged and counted as not prevented, other actions refused; "
            + "Refuse: Bind fails naming the action and syscall; DegradeToKill: SIGKILL at entry (the syscall may complete); DegradeToLog: allowed and logged";
        string Decider(string what) => sysEnter ? what : "nothing works: raw_tp/sys_enter is unavailable";

        return
        [
            new(SeccompAction.Allow, "nothing to do", ""),
            new(SeccompAction.Log, Decider("ring-buffer event from sys_enter, rate-limited per container, drops counted"), ""),
            new(SeccompAction.Errno, Decider(lsm ? $"returned as -errno by {hook} for {table}" : "cannot be carried out on this kernel"), $"{noPrevention}. {policy}"),
            new(SeccompAction.Trace, Decider(lsm ? $"no tracer: -ENOSYS from {hook} for {table}" : "cannot be carried out on this kernel"), $"{noPrevention}. {policy}"),
            new(SeccompAction.Notify, Decider(lsm ? $"no listener: -ENOSYS from {hook} for {table}" : "cannot be carried out on this kernel"), $"{noPrevention}. {policy}"),
            new(SeccompAction.Trap, Decider(lsm && signal ? $"stopped at {hook} for {table}, then SIGSYS without the SYS_SECCOMP siginfo fields" : "cannot be carried out on this kernel"), $"{noPrevention}. {policy}"),
            new(SeccompAction.KillThread, Decider(signal ? (lsm ? $"stopped at {hook} for {table}, then SIGKILL to the whole process" : "signal after entry: SIGKILL to the whole process; the syscall may complete before the process dies") : "cannot be carried out: bpf_send_signal unavailable"),
                lsm ? "other syscalls: signal after entry, the syscall may complete before the process dies" : ""),
            new(SeccompAction.KillProcess, Decider(signal ? (lsm ? $"stopped at {hook} for {table}, then SIGKILL" : "signal after entry: SIGKILL; the syscall may complete before the process dies") : "cannot be carried out: bpf_send_signal unavailable"),
                lsm ? "other syscalls: signal after entry, the syscall may complete before the process dies" : ""),
        ];
    }
}
