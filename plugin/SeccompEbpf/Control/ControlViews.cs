namespace SeccompEbpf.Control;

// What the control socket returns; the CLI prints these as tables or passes them through as JSON.

/// <summary>How one action of a container's profile is carried out on this kernel.</summary>
internal sealed record EnforcementLine(string Action, string Mechanism, IReadOnlyList<string> Syscalls, bool Exact, string? Note);

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
    IReadOnlyDictionary<string, ulong> Decisions);

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
    string Mode);

/// <summary>What <c>apply</c> changed.</summary>
internal sealed record ApplyResultView(IReadOnlyList<ContainerView> Containers);
