namespace SeccompEbpf.Profiles.Compiled;

// The compiled form is the contract between the profile engine and the BPF enforcement engine.
// Its layout is documented in docs/compiled-profile.md; the BPF maps mirror it one to one.
//
// Decision procedure (identical in the reference evaluator and in bpf/seccomp.bpf.c):
//   1. arch = the task's AUDIT_ARCH; nr = the syscall number as seccomp_data sees it (x32 numbers keep bit 0x40000000).
//   2. No CompiledArch for arch            -> BadArchAction.
//   3. A CompiledSyscall for nr exists     -> the first Rule whose Checks all hold decides; none holds -> Fallback.
//   4. nr >= EnosysFromNr (when set)       -> ERRNO(ENOSYS) (runc's stub for syscalls newer than the profile).
//   5. otherwise                           -> DefaultAction.

/// <summary>A seccomp action as the kernel knows it, ordered by the kernel's precedence (lowest first).</summary>
public enum SeccompAction : byte
{
    /// <summary>SECCOMP_RET_ALLOW.</summary>
    Allow = 0,
    /// <summary>SECCOMP_RET_LOG: allowed and logged.</summary>
    Log = 1,
    /// <summary>SECCOMP_RET_TRACE: with no tracer attached the kernel answers ENOSYS.</summary>
    Trace = 2,
    /// <summary>SECCOMP_RET_USER_NOTIF: with no listener the kernel answers ENOSYS.</summary>
    Notify = 3,
    /// <summary>SECCOMP_RET_ERRNO: the syscall is not executed and returns -errno.</summary>
    Errno = 4,
    /// <summary>SECCOMP_RET_TRAP: SIGSYS to the thread, syscall not executed.</summary>
    Trap = 5,
    /// <summary>SECCOMP_RET_KILL_THREAD.</summary>
    KillThread = 6,
    /// <summary>SECCOMP_RET_KILL_PROCESS.</summary>
    KillProcess = 7,
}

/// <summary>An action plus its data (the errno for ERRNO, the tracer message for TRACE).</summary>
public readonly record struct CompiledAction(SeccompAction Kind, ushort Data = 0)
{
    /// <summary>SCMP_ACT_ALLOW.</summary>
    public static CompiledAction Allow => new(SeccompAction.Allow);
    /// <summary>SCMP_ACT_ERRNO(errno).</summary>
    public static CompiledAction Errno(ushort errno) => new(SeccompAction.Errno, errno);
    /// <inheritdoc/>
    public override string ToString() => Kind is SeccompAction.Errno or SeccompAction.Trace ? $"{Kind}({Data})" : Kind.ToString();
}

/// <summary>A comparison operator of a seccomp argument check.</summary>
public enum CompareOp : byte
{
    /// <summary>arg != value.</summary>
    NotEqual = 1,
    /// <summary>arg &lt; value (unsigned 64-bit).</summary>
    LessThan = 2,
    /// <summary>arg &lt;= value.</summary>
    LessOrEqual = 3,
    /// <summary>arg == value.</summary>
    Equal = 4,
    /// <summary>arg &gt;= value.</summary>
    GreaterOrEqual = 5,
    /// <summary>arg &gt; value.</summary>
    GreaterThan = 6,
    /// <summary>(arg &amp; Value) == Datum; the compiler has already reduced Datum to Datum &amp; Value, as libseccomp does.</summary>
    MaskedEqual = 7,
}

/// <summary>One argument check: all 64 bits are compared, as seccomp does.</summary>
public readonly record struct ArgCheck(byte Index, CompareOp Op, ulong Value, ulong Datum = 0);

/// <summary>A conjunction of checks with the action it yields; rules of a syscall are tried in order, first match wins.</summary>
public sealed record CompiledRule(IReadOnlyList<ArgCheck> Checks, CompiledAction Action);

/// <summary>What one syscall number does: ordered conditional rules, then a fallback (the only action when Rules is empty).</summary>
public sealed record CompiledSyscall(uint Nr, IReadOnlyList<CompiledRule> Rules, CompiledAction Fallback);

/// <summary>The profile as seen by tasks of one architecture.</summary>
/// <param name="AuditArch">AUDIT_ARCH_* value (x86_64 0xC000003E, i386 0x40000003, aarch64 0xC00000B7; x32 shares x86_64's).</param>
/// <param name="DefaultAction">The action for syscalls the profile does not name.</param>
/// <param name="EnosysFromNr">Syscall numbers at or above this (and not named) get ERRNO(ENOSYS); null when not applicable.</param>
/// <param name="Syscalls">Sorted by Nr; no duplicates.</param>
public sealed record CompiledArch(uint AuditArch, CompiledAction DefaultAction, uint? EnosysFromNr, IReadOnlyList<CompiledSyscall> Syscalls);

/// <summary>A profile compiled for the enforcement engine.</summary>
/// <param name="Hash">Stable content hash (lower-case hex SHA-256 of the canonical encoding); equal profiles hash equal.</param>
/// <param name="BadArchAction">The action for tasks of an architecture the profile does not cover.</param>
/// <param name="Arches">One entry per covered architecture.</param>
public sealed record CompiledProfile(string Hash, CompiledAction BadArchAction, IReadOnlyList<CompiledArch> Arches)
{
    /// <summary>The most conditional rules any single syscall carries; the BPF side bounds its loop by a constant and refuses more.</summary>
    public int MaxRulesPerSyscall => Arches.SelectMany(a => a.Syscalls).Select(s => s.Rules.Count).DefaultIfEmpty(0).Max();

    /// <summary>Which <c>syscalls[]</c> entries of the source profile produced each (AuditArch, Nr); for explanations only, not part of the hash.</summary>
    public IReadOnlyDictionary<(uint AuditArch, uint Nr), IReadOnlyList<int>>? Origins { get; init; }
}
