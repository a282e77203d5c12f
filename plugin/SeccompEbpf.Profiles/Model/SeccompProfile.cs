using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Profiles.Model;

/// <summary>An action as written in a profile (<c>SCMP_ACT_*</c>).</summary>
public enum ProfileAction
{
    /// <summary>SCMP_ACT_KILL (runc treats it as KILL_THREAD).</summary>
    Kill,
    /// <summary>SCMP_ACT_KILL_THREAD.</summary>
    KillThread,
    /// <summary>SCMP_ACT_KILL_PROCESS.</summary>
    KillProcess,
    /// <summary>SCMP_ACT_TRAP.</summary>
    Trap,
    /// <summary>SCMP_ACT_ERRNO.</summary>
    Errno,
    /// <summary>SCMP_ACT_TRACE.</summary>
    Trace,
    /// <summary>SCMP_ACT_ALLOW.</summary>
    Allow,
    /// <summary>SCMP_ACT_LOG.</summary>
    Log,
    /// <summary>SCMP_ACT_NOTIFY.</summary>
    Notify,
}

/// <summary>One argument condition of a rule (<c>{index, value, valueTwo, op}</c>).</summary>
public sealed record ArgCondition(uint Index, ulong Value, ulong ValueTwo, CompareOp Op);

/// <summary>Docker/containers-common <c>includes</c>/<c>excludes</c> block.</summary>
public sealed record RuleFilter(IReadOnlyList<string> Caps, IReadOnlyList<string> Arches, string? MinKernel)
{
    /// <summary>True when nothing is set.</summary>
    public bool IsEmpty => Caps.Count == 0 && Arches.Count == 0 && MinKernel is null;
}

/// <summary>One entry of <c>syscalls[]</c>.</summary>
/// <param name="Names">Syscall names (the deprecated singular <c>name</c> is folded in here).</param>
/// <param name="Action">The action when the rule matches.</param>
/// <param name="Args">Argument conditions (ANDed; a repeated index splits the rule, as runc does).</param>
/// <param name="Includes">Docker includes.</param>
/// <param name="Excludes">Docker excludes.</param>
/// <param name="Comment">Free text.</param>
/// <param name="ErrnoRet">errnoRet (or errno by name, resolved); null when absent.</param>
/// <param name="Index">Position in <c>syscalls[]</c>.</param>
/// <param name="Line">1-based line of the entry in the source, 0 for built or generated profiles.</param>
public sealed record SyscallRule(
    IReadOnlyList<string> Names,
    ProfileAction Action,
    ulong? ErrnoRet,
    IReadOnlyList<ArgCondition> Args,
    RuleFilter Includes,
    RuleFilter Excludes,
    string? Comment,
    int Index,
    int Line);

/// <summary>Docker's <c>archMap</c> entry.</summary>
public sealed record ArchMapEntry(string Architecture, IReadOnlyList<string> SubArchitectures);

/// <summary>A parsed and validated seccomp profile, in any supported dialect.</summary>
public sealed record SeccompProfile(
    ProfileAction DefaultAction,
    ulong? DefaultErrnoRet,
    IReadOnlyList<string> Architectures,
    IReadOnlyList<ArchMapEntry> ArchMap,
    IReadOnlyList<string> Flags,
    string? ListenerPath,
    string? ListenerMetadata,
    IReadOnlyList<SyscallRule> Syscalls);

/// <summary>How serious a diagnostic is.</summary>
public enum DiagnosticSeverity
{
    /// <summary>Accepted, but worth knowing (e.g. an unknown syscall name that runc skips).</summary>
    Warning,
    /// <summary>The profile is refused.</summary>
    Error,
}

/// <summary>A problem found in a profile: where (JSON path and line) and what.</summary>
public sealed record ProfileDiagnostic(DiagnosticSeverity Severity, int Line, string Path, string Message)
{
    /// <summary>Formats as <c>FILE:LINE: path: message</c>.</summary>
    public string Format(string file) =>
        Severity == DiagnosticSeverity.Warning ? $"{file}:{Line}: {Path}: warning: {Message}" :
        $"{file}:{Line}: {Path}: {Message}";
}

/// <summary>The outcome of parsing: the profile (null when any error) and every diagnostic.</summary>
public sealed record ProfileParseResult(SeccompProfile? Profile, IReadOnlyList<ProfileDiagnostic> Diagnostics)
{
    /// <summary>True when there is at least one error.</summary>
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
}

/// <summary>Raised when a profile cannot be parsed, validated or compiled.</summary>
public sealed class ProfileException(string message, IReadOnlyList<ProfileDiagnostic>? diagnostics = null) : Exception(message)
{
    /// <summary>The problems behind this exception.</summary>
    public IReadOnlyList<ProfileDiagnostic> Diagnostics { get; } = diagnostics ?? [];
}
