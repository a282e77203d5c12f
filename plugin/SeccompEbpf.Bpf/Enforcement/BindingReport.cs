using System.Text.Json.Serialization;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>How an action is carried out on this kernel.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EnforcementMechanism>))]
public enum EnforcementMechanism
{
    /// <summary>ALLOW: nothing to do.</summary>
    None,
    /// <summary>A ring-buffer event from sys_enter; the syscall runs.</summary>
    RingBufferLog,
    /// <summary>
    /// Stopped at an LSM hook the syscall passes through (plus a signal for KILL/TRAP): by a BPF LSM program, or where
    /// bpf is not an active LSM by fmod_ret on the hook's security_* function (the explanation names which).
    /// </summary>
    LsmHook,
    /// <summary>A signal sent at syscall entry: the syscall may complete before the process dies.</summary>
    SignalAfterEntry,
    /// <summary>Degraded per UnenforceablePolicy (see Explanation).</summary>
    Degraded,
    /// <summary>Audit mode: logged instead of applied.</summary>
    AuditLog,
    /// <summary>Cannot be enforced here; Bind refused the profile.</summary>
    Refused,
    /// <summary>The container's own kernel seccomp filter stops the syscall before entry; no BPF work.</summary>
    KernelSeccomp,
}

/// <summary>How one action of the profile, for one syscall (or for a class of syscalls), is enforced.</summary>
/// <param name="Scope">What the action applies to, e.g. "getppid (x86_64)" or "default action (x86_64)".</param>
/// <param name="Requested">The profile's action.</param>
/// <param name="Applied">What the kernel programs do.</param>
/// <param name="Mechanism">The mechanism, or Degraded/Refused.</param>
/// <param name="Explanation">One line a person can act on.</param>
public sealed record ActionEnforcement(string Scope, CompiledAction Requested, CompiledAction Applied, EnforcementMechanism Mechanism, string Explanation);

/// <summary>What Bind did: per action and syscall, the mechanism that enforces it or why it cannot.</summary>
/// <param name="CgroupId">The bound cgroup.</param>
/// <param name="ProfileHash">CompiledProfile.Hash of the bound profile.</param>
/// <param name="Mode">Enforce or audit.</param>
/// <param name="Actions">Per action and syscall (or class of syscalls): mechanism and explanation.</param>
/// <param name="Exactness">Per-class syscall counts of the native ABI; null when built without a plan.</param>
public sealed record BindingReport(ulong CgroupId, string ProfileHash, EnforcementMode Mode, IReadOnlyList<ActionEnforcement> Actions, ExactnessSummary? Exactness = null)
{
    /// <summary>Some action was degraded rather than enforced as written.</summary>
    public bool IsDegraded => Actions.Any(a => a.Mechanism == EnforcementMechanism.Degraded);

    /// <inheritdoc/>
    public override string ToString()
        => $"cgroup {CgroupId}, profile {ProfileHash[..Math.Min(12, ProfileHash.Length)]}, {Mode}:" + Environment.NewLine
           + string.Join(Environment.NewLine, Actions.Select(a => $"  {a.Explanation}"));
}
