using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Control;

// What the control socket returns; the CLI prints these as tables or passes them through as JSON.

/// <summary>How one action of a container's profile is carried out on this kernel.</summary>
internal sealed record EnforcementLine(string Action, string Mechanism, IReadOnlyList<string> Syscalls, bool Exact, string? Note);

/// <summary>
/// How many syscalls of the container's native ABI are exact before entry, killed after entry or not prevented on
/// this kernel (ARCHITECTURE.md invariant 9), with the names of those not exact. KernelSeccomp counts the exact ones
/// the container's own kernel seccomp filter stops; NeedsSysEnter is false when the binding leaves sys_enter detached.
/// </summary>
internal sealed record ExactnessView(
    string Summary,
    string Arch,
    int Exact,
    int AfterEntry,
    int NotPrevented,
    int Refused,
    IReadOnlyList<string> AfterEntrySyscalls,
    IReadOnlyList<string> NotPreventedSyscalls,
    int KernelSeccomp = 0,
    IReadOnlyList<string>? FloorDiffersSyscalls = null,
    bool NeedsSysEnter = true);

/// <summary>One container as <c>seccomp-ebpf ps</c> shows it.</summary>
internal sealed record ContainerView(
    string Namespace,
    string Pod,
    string Container,
    string ContainerId,
    int Pid,
    ulong CgroupId,
    string? Profile,
    string? ProfileHash,
    string Mode,
    string State,
    string? Reason,
    IReadOnlyList<EnforcementLine> Enforcement,
    IReadOnlyDictionary<string, ulong> Decisions,
    ExactnessView? Exactness = null,
    UnprotectedGapView? UnprotectedGap = null,
    RecordingStateView? Recording = null,
    ShadowView? Shadow = null);

/// <summary>
/// The container's shadow profile (docs/shadow.md): evaluated beside the one in force, never applied. Differences and
/// Denials are null when the shadow is not in place (Problem says why).
/// </summary>
/// <param name="Denials">Syscalls the shadow would have stopped so far (its would-be denials).</param>
/// <param name="Differences">Syscalls whose shadow verdict differed from the one in force (denials, and other verdicts).</param>
internal sealed record ShadowView(string Profile, string? ProfileHash, ulong? Differences, ulong? Denials, string? Problem);

/// <summary>The container's syscalls are being recorded (docs/recording.md); Since is null for a recording adopted after a daemon restart.</summary>
/// <param name="Arguments">The arguments whose values it records too (`record --with-args`), with how many distinct values so far.</param>
internal sealed record RecordingStateView(DateTimeOffset? Since, IReadOnlyList<RecordedArgumentStateView>? Arguments = null);

/// <summary>One argument a recording collects the values of: NAME:INDEX, distinct values so far, and whether more came than it holds.</summary>
internal sealed record RecordedArgumentStateView(string Syscall, int Index, int Values, bool Overflow);

/// <summary>What one container's recording holds: syscall names per ABI (SCMP_ARCH_*), ascending by name.</summary>
/// <param name="Profile">The profile in force while recording; null for the allow-all recording binding.</param>
/// <param name="UnknownNumbers">Numbers recorded that this build's syscall tables do not name ("ARCH:NR").</param>
/// <param name="OutOfRange">Some number at or above 512 was attempted; the recording cannot say which.</param>
internal sealed record RecordingView(
    string Namespace,
    string Pod,
    string Container,
    string ContainerId,
    DateTimeOffset? Since,
    DateTimeOffset ReadAt,
    string? Profile,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Syscalls,
    IReadOnlyList<string> UnknownNumbers,
    bool OutOfRange,
    IReadOnlyList<RecordedArgument>? Arguments = null);

/// <summary>What <c>record-start</c> did per container.</summary>
internal sealed record RecordingStartView(string ContainerId, bool WasRecording);

/// <summary>The container was created while no daemon followed the runtime: what the exec gate recorded for it.</summary>
/// <param name="BoundTo">The fallback profile the gate bound the container to (gate mode profile), else null.</param>
internal sealed record UnprotectedGapView(string Gate, ulong Execs, ulong Denied, int LastPid, string LastComm, string? BoundTo = null);

/// <summary>One logged, denied or killed syscall.</summary>
internal sealed record SyscallEventView(
    DateTimeOffset Time,
    string? Namespace,
    string? Pod,
    string? Container,
    string? ContainerId,
    ulong CgroupId,
    int Pid,
    int Tid,
    string Comm,
    string Arch,
    string Syscall,
    int Nr,
    IReadOnlyList<ulong> Args,
    string Action,
    string Mode); // enforce, audit, or shadow: the shadow profile's verdict, not applied

/// <summary>What <c>apply</c> changed.</summary>
internal sealed record ApplyResultView(IReadOnlyList<ContainerView> Containers);
