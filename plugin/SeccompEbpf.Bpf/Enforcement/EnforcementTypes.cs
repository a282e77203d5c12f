using System.Text.Json.Serialization;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>Whether a binding applies its profile's actions or only logs them.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EnforcementMode>))]
public enum EnforcementMode
{
    /// <summary>Actions are applied.</summary>
    Enforce,
    /// <summary>Every non-ALLOW action is logged instead of applied.</summary>
    Audit,
}

/// <summary>
/// What Bind does with an action this kernel can neither prevent nor kill for (the engine's default is Refuse;
/// the daemon's is LogUnpreventableDefault, see docs/enforcement.md).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<UnenforceablePolicy>))]
public enum UnenforceablePolicy
{
    /// <summary>Bind throws EnforcementRefusedException naming the action, the syscall and why.</summary>
    Refuse,
    /// <summary>The action becomes a SIGKILL sent at syscall entry (the syscall may complete first).</summary>
    DegradeToKill,
    /// <summary>The action becomes LOG: allowed and logged.</summary>
    DegradeToLog,
    /// <summary>
    /// The profile's default action (and ERRNO(ENOSYS) "not implemented" answers) becomes LOG where it cannot be
    /// prevented, counted as not prevented; every other action the profile writes is refused as under Refuse.
    /// Real allowlist profiles (an ERRNO default) then run on kernels without error injection.
    /// </summary>
    LogUnpreventableDefault,
}

/// <summary>Engine settings.</summary>
public sealed record EngineOptions
{
    /// <summary>bpffs directory holding the pinned maps and links (bpffs is mounted at /sys/fs/bpf if needed).</summary>
    public string PinRoot { get; init; } = "/sys/fs/bpf/seccomp-ebpf";
    /// <summary>What to do with actions the kernel cannot enforce.</summary>
    public UnenforceablePolicy OnUnenforceable { get; init; } = UnenforceablePolicy.Refuse;
    /// <summary>Remove links, maps and pins on Dispose (uninstall); otherwise enforcement outlives the engine.</summary>
    public bool DetachOnExit { get; init; }
    /// <summary>Ring-buffer events per second per bound container; more are dropped and counted; 0 means unlimited.</summary>
    public int LogEventsPerSecondPerContainer { get; init; } = 1000;
    /// <summary>Events buffered for readers of <see cref="EnforcementEngine.Events"/> before new ones are dropped (and counted).</summary>
    public int EventChannelCapacity { get; init; } = 65536;
    /// <summary>
    /// Where this boot's probe results are kept for the next engine (a restarted daemon); null probes at every Open.
    /// The file must be root's; it is used only for the same boot, kernel, LSMs and BPF object.
    /// </summary>
    public string? CapabilityRecordPath { get; init; }
}

/// <summary>A binding as the engine knows it: the container's cgroup, its profile and mode.</summary>
/// <param name="CgroupId">cgroup v2 id of the container (descendant cgroups are covered).</param>
/// <param name="ProfileHash">CompiledProfile.Hash of the bound profile.</param>
/// <param name="Mode">Enforce or audit.</param>
/// <param name="Adopted">Found pinned at Open (bound by an earlier engine).</param>
/// <param name="Degraded">Some action was degraded (DegradeToKill/DegradeToLog).</param>
/// <param name="FromGate">Made by the exec gate's kernel program (gate mode profile) for a container no daemon admitted.</param>
/// <param name="Recording">The kernel records the syscalls the container attempts (StartRecording).</param>
/// <param name="ShadowHash">CompiledProfile.Hash of the shadow profile evaluated beside the bound one (SetShadow), or null.</param>
public sealed record BindingInfo(ulong CgroupId, string ProfileHash, EnforcementMode Mode, bool Adopted, bool Degraded, bool FromGate = false, bool Recording = false, string? ShadowHash = null);

/// <summary>Bind refused a profile: some action cannot be enforced on this kernel and the policy is Refuse.</summary>
public sealed class EnforcementRefusedException(string message, IReadOnlyList<string> reasons) : Exception(message)
{
    /// <summary>One line per unenforceable action and syscall.</summary>
    public IReadOnlyList<string> Reasons { get; } = reasons;
}

/// <summary>Where a decision came from (the rule field of an event).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DecisionSource>))]
public enum DecisionSource
{
    /// <summary>A conditional rule of the syscall (see RuleIndex).</summary>
    Rule,
    /// <summary>The syscall's fallback action (no rule held).</summary>
    Fallback,
    /// <summary>The architecture's default action.</summary>
    DefaultAction,
    /// <summary>runc's ENOSYS stub for syscalls newer than the profile.</summary>
    Enosys,
    /// <summary>The profile's bad-architecture action.</summary>
    BadArch,
    /// <summary>The binding pointed at no profile slot (an engine defect; allowed).</summary>
    NoSlot,
}

/// <summary>What happened with the decision.</summary>
[Flags]
public enum SyscallEventFlags : ushort
{
    /// <summary>Nothing beyond logging.</summary>
    None = 0,
    /// <summary>The action was applied.</summary>
    Enforced = 0x01,
    /// <summary>Audit mode: logged instead of applied.</summary>
    AuditOnly = 0x02,
    /// <summary>The action is a degraded form of the profile's.</summary>
    Degraded = 0x04,
    /// <summary>The verdict was handed to the LSM hooks (the syscall is stopped before its effect).</summary>
    Prevented = 0x08,
    /// <summary>The shadow profile's verdict, where it differs from the one in force; nothing was applied (Action is the shadow's).</summary>
    Shadow = 0x10,
}

/// <summary>One decision reported through the ring buffer.</summary>
public sealed record SyscallEvent(
    ulong TimestampBootNs,
    ulong CgroupId,
    ulong BoundCgroupId,
    int Pid,
    int Tid,
    string Comm,
    uint AuditArch,
    uint Nr,
    IReadOnlyList<ulong> Args,
    SeccompAction Action,
    ushort Data,
    DecisionSource Source,
    int RuleIndex,
    EnforcementMode Mode,
    SyscallEventFlags Flags)
{
    /// <summary>The syscall's name for its architecture, or null when unknown.</summary>
    public string? SyscallName => SyscallTable.NameOf(AuditArch, Nr);
}

/// <summary>
/// Totals of the per-CPU counters and the user-space event channel. ManagedSyscalls is the sum of Decisions;
/// BindingLookups counts full binding lookups in the kernel, i.e. misses of the per-task cache (a task's first
/// syscall, and its first after it moved cgroup or a binding changed), not syscalls: unmanaged syscalls are not counted.
/// </summary>
public sealed record EngineCounters(
    IReadOnlyDictionary<SeccompAction, ulong> Decisions,
    ulong ManagedSyscalls,
    ulong BindingLookups,
    ulong Events,
    ulong RingBufferDrops,
    ulong RateLimitDrops,
    ulong ChannelDrops,
    ulong LsmDenials,
    ulong Signals,
    ulong SignalFailures,
    ulong AuditedActions,
    ulong MissingSlots);
