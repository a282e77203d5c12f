using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.Lifecycle;

/// <summary>What became of an attempt to put a container's policy in force; every engine outcome is one of these.</summary>
internal abstract record BindOutcome
{
    private BindOutcome() { }

    /// <summary>The profile is bound to the container's cgroup; <see cref="Report"/> says how each action is enforced;
    /// <see cref="ShadowSet"/>: the policy's shadow profile is evaluated beside it; <see cref="ShadowProblem"/>: it could not be (the profile in force is bound all the same).</summary>
    public sealed record Bound(BindingReport Report, EnforcementMode Mode, bool ShadowSet = false, string? ShadowProblem = null) : BindOutcome;

    /// <summary>The policy wants no binding; the previous one, if any, was removed (<see cref="UnbindProblem"/>: or failed to be).</summary>
    public sealed record Unbound(string? UnbindProblem) : BindOutcome;

    /// <summary>The engine refused or failed (limits, BPF errors, cgroup depth); any previous binding stays as it was.</summary>
    public sealed record Refused(string Problem) : BindOutcome;

    /// <summary>Nothing could be tried: no engine, or no cgroup to bind.</summary>
    public sealed record Unprotected(string Problem) : BindOutcome;

    /// <summary>Refused or unprotected at a point where the container can still be stopped from running, and the configuration says veto.</summary>
    public sealed record Vetoed(string Problem) : BindOutcome;
}

/// <summary>
/// Turns a container's policy into engine calls and every result of them, exceptions included, into a
/// <see cref="BindOutcome"/>: an exception escaping here would reach containerd as "Unknown" and leave the container
/// undecided. Holds no state and no lock: the caller applies the outcome to the <see cref="ContainerTable"/>.
/// </summary>
internal sealed class PolicyBinder(IEnforcement? engine, string? engineFailure, InvalidPolicyAction onInvalidPolicy)
{
    public bool HasEngine => engine is not null;

    /// <param name="mayVeto">True at StartContainer, before the entrypoint runs; a running container can only be reported.</param>
    public BindOutcome Bind(ContainerRecord container, ContainerPolicy policy, bool mayVeto)
    {
        if (!policy.WantsBinding || policy.Profile is null)
            return new BindOutcome.Unbound(Unbind(policy.BoundCgroupId));
        if (container.CgroupId == 0)
            return Failed(policy, $"the cgroup of pid {container.Pid} could not be resolved", unprotected: true, mayVeto);
        if (engine is null)
            return Failed(policy, $"the enforcement engine is unavailable: {engineFailure}", unprotected: true, mayVeto);
        try
        {
            var mode = policy.Mode == PolicyMode.Audit ? EnforcementMode.Audit : EnforcementMode.Enforce;
            var report = policy.BoundCgroupId == container.CgroupId
                ? engine.Rebind(container.CgroupId, policy.Profile.Compiled, mode, container.Floor)
                : engine.Bind(container.CgroupId, policy.Profile.Compiled, mode, container.Floor);
            var (shadowSet, shadowProblem) = Shadow(container.CgroupId, policy);
            return new BindOutcome.Bound(report, mode, shadowSet, shadowProblem);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Every engine failure (refusal, rule-table limit, BPF error, cgroup depth) is a refusal or veto naming the profile.
            return Failed(policy, EngineProblem(e), unprotected: false, mayVeto);
        }
    }

    // After the profile in force is bound (the shadow is compared with it): the policy's shadow is set, replaced or
    // cleared. A shadow that fails is reported and leaves the binding as it is: a shadow never costs enforcement.
    private (bool Set, string? Problem) Shadow(ulong cgroupId, ContainerPolicy policy)
    {
        try
        {
            if (policy.ShadowProfile is { } shadow && policy.ShadowReference is not null)
            {
                engine!.SetShadow(cgroupId, shadow.Compiled);
                return (true, null);
            }
            engine!.ClearShadow(cgroupId);
            return (false, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (false, $"shadow profile \"{policy.ShadowReference}\" is not evaluated: {EngineProblem(e)}");
        }
    }

    /// <summary>What the cgroup's shadow would have done differently so far, or null when it has none (or there is no engine).</summary>
    public ShadowCounts? ReadShadow(ulong cgroupId)
    {
        try
        {
            return cgroupId == 0 ? null : engine?.ReadShadow(cgroupId);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null; // a view must not fail for a counter (the engine is being disposed)
        }
    }

    /// <summary>Removes the binding of <paramref name="cgroupId"/> (0: none); the problem when the engine failed, else null.</summary>
    public string? Unbind(ulong cgroupId)
    {
        if (cgroupId == 0 || engine is null)
            return null;
        try
        {
            engine.Unbind(cgroupId);
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return EngineProblem(e);
        }
    }

    /// <summary>Starts recording a bound cgroup, or goes on with the recording it already has (adopted after a restart); the problem, else null.</summary>
    public string? StartRecording(ulong cgroupId, bool keepRunning)
    {
        if (engine is null)
            return $"the enforcement engine is unavailable: {engineFailure}";
        try
        {
            if (!keepRunning || engine.ReadRecording(cgroupId) is null)
                engine.StartRecording(cgroupId);
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return EngineProblem(e);
        }
    }

    /// <summary>Records (or with an empty list stops recording) a few syscalls' argument values on a recording cgroup; the problem, else null.</summary>
    public string? RecordArguments(ulong cgroupId, IReadOnlyList<ArgumentToRecord> arguments)
    {
        if (engine is null)
            return $"the enforcement engine is unavailable: {engineFailure}";
        try
        {
            engine.RecordArguments(cgroupId, arguments);
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return EngineProblem(e);
        }
    }

    /// <summary>Stops a cgroup's recording; the problem, else null.</summary>
    public string? StopRecording(ulong cgroupId)
    {
        try
        {
            engine?.StopRecording(cgroupId);
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return EngineProblem(e);
        }
    }

    /// <summary>What the cgroup's recording holds, or null when it records nothing (or there is no engine).</summary>
    public SyscallRecording? ReadRecording(ulong cgroupId) => engine?.ReadRecording(cgroupId);

    /// <summary>The engine's bindings (empty without an engine), to be checked against the table.</summary>
    public IReadOnlyList<BindingInfo> Bindings => engine?.Bindings ?? [];

    private BindOutcome Failed(ContainerPolicy policy, string reason, bool unprotected, bool mayVeto)
    {
        var problem = $"profile \"{policy.ProfileReference}\" cannot be enforced: {reason}";
        if (mayVeto && onInvalidPolicy == InvalidPolicyAction.Veto)
            return new BindOutcome.Vetoed(problem);
        return unprotected ? new BindOutcome.Unprotected(problem) : new BindOutcome.Refused(problem);
    }

    // ArgumentException appends " (Parameter 'name')", which means nothing to whoever reads a veto.
    public static string EngineProblem(Exception e) =>
        e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;
}
