using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Lifecycle;

// Shadow profiles (docs/shadow.md): the seccomp-ebpf.io/shadow annotation, `apply --shadow/--no-shadow/--promote-shadow`.
internal sealed partial class PolicyController
{
    /// <summary>
    /// <paramref name="policy"/> with its shadow profile loaded. A shadow reference that cannot be loaded is a problem
    /// of the shadow only: the container keeps the policy it asked for, and the problem is shown (ps, logs, Events).
    /// </summary>
    private ContainerPolicy WithShadowLoaded(ContainerPolicy policy)
    {
        if (policy.ShadowReference is not { } reference)
            return policy with { ShadowProfile = null, ShadowProblem = null };
        try
        {
            return policy with { ShadowProfile = _profiles.Get(reference), ShadowProblem = null };
        }
        catch (PolicySelectionException e)
        {
            var source = policy.ShadowOverride is null ? $"annotation {policy.Selection.ShadowSource}" : "apply --shadow";
            return policy with { ShadowProfile = null, ShadowProblem = $"shadow profile \"{PolicyAnnotations.Echo(reference)}\" ({source}) is not evaluated: {e.Message}" };
        }
    }

    /// <summary>
    /// `apply --shadow REF` (<paramref name="clear"/> false) or `apply --no-shadow` (true): sets, replaces or removes the
    /// targets' shadow; the profile in force is untouched. A shadow is evaluated beside a bound profile only.
    /// </summary>
    /// <exception cref="PolicySelectionException">Unknown target or profile; nothing was changed.</exception>
    public IReadOnlyList<string> ApplyShadow(string? podRef, string? containerId, string? shadow, bool clear)
    {
        if (!clear && string.IsNullOrWhiteSpace(shadow))
            throw new PolicySelectionException("--shadow needs a profile reference");
        var loaded = clear ? null : _profiles.Get(shadow!); // outside the lock; a bad reference changes nothing
        using (Locked())
        {
            var targets = TargetsLocked(podRef, containerId);
            if (!clear && targets.FirstOrDefault(e => e.Policy is not { WantsProfile: true }) is { } bare)
                throw new PolicySelectionException($"container {bare.Container.Name} has no profile in force: a shadow is compared with a bound profile (apply --profile first)");
            foreach (var entry in targets)
            {
                var container = entry.Container;
                var pod = _table.FindPod(container.PodId)!;
                var policy = entry.Policy ?? new ContainerPolicy(container.Id, new PolicySelection(null, null, PolicyMode.Off, null));
                policy = clear
                    ? policy with { ShadowOverride = null, ShadowCleared = true, ShadowProfile = null, ShadowProblem = null }
                    : policy with { ShadowOverride = shadow, ShadowCleared = false, ShadowProfile = loaded, ShadowProblem = null };
                LogShadowApplied(pod.Namespace, pod.Name, container.Name, policy.ShadowReference ?? "none");
                ReplaceLocked(pod, container, policy);
            }
            return targets.Select(e => e.Id).ToList();
        }
    }

    /// <summary>
    /// `apply --promote-shadow`: each target's shadow becomes its profile in force, in mode enforce, with one binding
    /// write (the engine's atomic rebind), and the shadow is cleared. Targets are checked before any is changed.
    /// </summary>
    /// <exception cref="PolicySelectionException">Unknown target, or a target without a shadow in place; nothing was changed.</exception>
    public IReadOnlyList<string> PromoteShadow(string? podRef, string? containerId)
    {
        using (Locked())
        {
            var targets = TargetsLocked(podRef, containerId);
            foreach (var entry in targets)
            {
                if (entry.Policy is not { ShadowProfile: not null, ShadowReference: not null, BoundCgroupId: not 0 } policy || policy.BoundCgroupId != entry.Container.CgroupId)
                    throw new PolicySelectionException($"container {entry.Container.Name} ({entry.Id[..Math.Min(12, entry.Id.Length)]}) has no shadow in place to promote"
                                                       + (entry.Policy?.ShadowProblem is { } problem ? $": {problem}" : ""));
            }
            foreach (var entry in targets)
            {
                var (container, policy) = (entry.Container, entry.Policy!);
                var pod = _table.FindPod(container.PodId)!;
                var promoted = policy with
                {
                    ProfileOverride = policy.ShadowReference,
                    ModeOverride = PolicyMode.Enforce,
                    Profile = policy.ShadowProfile,
                    ShadowOverride = null,
                    ShadowCleared = true,
                    ShadowProfile = null,
                    ShadowProblem = null,
                };
                LogShadowPromoted(pod.Namespace, pod.Name, container.Name, policy.ShadowReference!, policy.ProfileReference ?? "-");
                ReplaceLocked(pod, container, promoted, from: $"{policy.ProfileReference} v{policy.Profile?.Version}, mode {policy.Mode.ToString().ToLowerInvariant()}");
            }
            return targets.Select(e => e.Id).ToList();
        }
    }

    /// <summary>What the container's shadow would have done differently so far (null: no shadow in place).</summary>
    public ShadowCounts? ShadowCountsOf(ContainerPolicy? policy) =>
        policy is { ShadowProfile: not null, BoundCgroupId: not 0 } ? _binder.ReadShadow(policy.BoundCgroupId) : null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Apply to pod {Namespace}/{Pod} container {Container}: shadow profile {Shadow}")]
    private partial void LogShadowApplied(string @namespace, string pod, string container, string shadow);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pod {Namespace}/{Pod} container {Container}: shadow profile {Shadow} promoted to the profile in force (was {Was}), mode enforce")]
    private partial void LogShadowPromoted(string @namespace, string pod, string container, string shadow, string was);
}
