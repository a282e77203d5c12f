using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Lifecycle;

/// <summary>Where a container's policy stands.</summary>
internal enum PolicyState { Unmanaged, Pending, Enforced, Audited, Refused }

/// <summary>A container's policy: what the annotations asked, what `apply` overrode, and what the kernel does.</summary>
internal sealed record ContainerPolicy(
    string ContainerId,
    PolicySelection Selection,
    string? ProfileOverride = null,
    PolicyMode? ModeOverride = null,
    LoadedProfile? Profile = null,
    PolicyState State = PolicyState.Unmanaged,
    ulong BoundCgroupId = 0,
    BindingReport? Report = null,
    string? Reason = null)
{
    public string? ProfileReference => ProfileOverride ?? Selection.ProfileReference;
    public PolicyMode Mode => ModeOverride ?? Selection.Mode;
    public bool WantsBinding => ProfileReference is not null && Mode != PolicyMode.Off && ProfileReference != "unconfined";
}

/// <summary>
/// Joins the container lifecycle, the profile store and the enforcement engine: selects a profile when a container
/// is created, binds it before the container's entrypoint runs, rebinds on edits and `apply`, unbinds at the end.
/// </summary>
internal sealed partial class PolicyController
{
    private readonly ContainerRegistry _registry;
    private readonly ProfileStore _profiles;
    private readonly IEnforcement? _engine;
    private readonly string? _engineFailure;
    private readonly PolicyOptions _options;
    private readonly ILogger<PolicyController> _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ContainerPolicy> _policies = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, string> _containerByCgroup = [];

    /// <param name="engine">The enforcement engine; null when it could not be opened (no BPF, not root).</param>
    /// <param name="engineFailure">Why <paramref name="engine"/> is null, for every container that cannot be enforced.</param>
    public PolicyController(ContainerRegistry registry, ProfileStore profiles, IEnforcement? engine, string? engineFailure, PolicyOptions options,
        ILogger<PolicyController> logger)
    {
        _registry = registry;
        _profiles = profiles;
        _engine = engine;
        _engineFailure = engineFailure;
        _options = options;
        _logger = logger;
        _profiles.Changed += OnProfileChanged;
    }

    /// <summary>The container bound to <paramref name="cgroupId"/>, for naming events.</summary>
    public string? ContainerOfCgroup(ulong cgroupId)
    {
        using (Locked())
            return _containerByCgroup.GetValueOrDefault(cgroupId);
    }

    public ContainerPolicy? PolicyOf(string containerId)
    {
        using (Locked())
            return _policies.GetValueOrDefault(containerId);
    }

    /// <summary>CreateContainer: select and load the profile; an invalid selection vetoes the container (or leaves it unmanaged, per configuration).</summary>
    public void Admit(PodRecord pod, ContainerRecord container)
    {
        var policy = Select(pod, container);
        using (Locked())
            _policies[container.Id] = policy;
    }

    private ContainerPolicy Select(PodRecord pod, ContainerRecord container)
    {
        pod = WithLiveAnnotations(pod); // PolicyController.Kubernetes.cs
        PolicySelection selection;
        try
        {
            selection = PolicyAnnotations.Select(pod.Annotations, container.Annotations, container.Name, _options.DefaultProfile, _options.HonourLegacyAnnotations);
        }
        catch (PolicySelectionException e)
        {
            return Invalid(pod, container, new PolicySelection(null, null, PolicyMode.Off, null), e.Message);
        }
        var policy = new ContainerPolicy(container.Id, selection);
        if (!policy.WantsBinding)
            return policy;
        try
        {
            return policy with { Profile = _profiles.Get(policy.ProfileReference!), State = PolicyState.Pending };
        }
        catch (PolicySelectionException e)
        {
            return Invalid(pod, container, selection, $"annotation {selection.ProfileSource}: {e.Message}");
        }
    }

    private ContainerPolicy Invalid(PodRecord pod, ContainerRecord container, PolicySelection selection, string problem)
    {
        if (_options.OnInvalidPolicy == InvalidPolicyAction.Veto)
        {
            LogVetoed(pod.Namespace, pod.Name, container.Name, problem);
            Notice(PolicyNoticeKind.Vetoed, pod, container.Name, $"container {container.Name} vetoed: {problem}"); // PolicyController.Kubernetes.cs
            throw new NriVetoException($"seccomp-ebpf: pod {pod.Namespace}/{pod.Name} container {container.Name}: {problem}");
        }
        LogStartedUnmanaged(pod.Namespace, pod.Name, container.Name, problem);
        Notice(PolicyNoticeKind.NotEnforced, pod, container.Name, $"container {container.Name} started unmanaged: {problem}");
        return new ContainerPolicy(container.Id, selection, State: PolicyState.Unmanaged, Reason: problem);
    }

    /// <summary>StartContainer: bind before the reply, so the entrypoint never runs unconfined.</summary>
    public void Start(PodRecord pod, ContainerRecord container)
    {
        using (Locked())
        {
            if (!_policies.TryGetValue(container.Id, out var policy))
                policy = Select(pod, container); // created before this daemon saw it
            _policies[container.Id] = BindLocked(pod, container, policy, veto: true);
        }
    }

    private ContainerPolicy BindLocked(PodRecord pod, ContainerRecord container, ContainerPolicy policy, bool veto)
    {
        if (!policy.WantsBinding || policy.Profile is null)
        {
            if (policy.BoundCgroupId != 0 && policy.Report is not null)
                Notice(PolicyNoticeKind.Changed, pod, container.Name, $"container {container.Name}: no profile in force any more (was {policy.Report.ProfileHash[..Math.Min(12, policy.Report.ProfileHash.Length)]}); the container is unmanaged");
            UnbindLocked(policy);
            return policy with { State = PolicyState.Unmanaged, Report = null, BoundCgroupId = 0 };
        }
        if (container.CgroupId == 0)
            return Fail(policy, $"the cgroup of pid {container.Pid} could not be resolved");
        if (_engine is not { } engine)
            return Fail(policy, $"the enforcement engine is unavailable: {_engineFailure}");
        try
        {
            var mode = policy.Mode == PolicyMode.Audit ? EnforcementMode.Audit : EnforcementMode.Enforce;
            var report = policy.BoundCgroupId == container.CgroupId
                ? engine.Rebind(container.CgroupId, policy.Profile.Compiled, mode)
                : engine.Bind(container.CgroupId, policy.Profile.Compiled, mode);
            _containerByCgroup[container.CgroupId] = container.Id;
            var bound = policy with
            {
                State = mode == EnforcementMode.Audit ? PolicyState.Audited : PolicyState.Enforced,
                BoundCgroupId = container.CgroupId,
                Report = report,
                Reason = report.IsDegraded ? "some actions are degraded on this kernel (see enforcement)" : null,
            };
            LogBound(pod.Namespace, pod.Name, container.Name, container.Id, policy.ProfileReference!, policy.Profile.Version,
                bound.State.ToString(), container.CgroupId, report.IsDegraded, report.Exactness?.ToString() ?? "not planned");
            NoticeBound(pod, container, policy, bound); // PolicyController.Kubernetes.cs
            return bound;
        }
        catch (Exception e) when (e is not (NriVetoException or OutOfMemoryException))
        {
            // Every engine failure (refusal, rule-table limit, BPF error, cgroup depth) is a refusal or veto naming the
            // profile: an exception escaping here reaches containerd as "Unknown" and leaves the container undecided.
            return Fail(policy, EngineProblem(e));
        }

        ContainerPolicy Fail(ContainerPolicy p, string reason)
        {
            var problem = $"profile \"{p.ProfileReference}\" cannot be enforced: {reason}";
            if (veto && _options.OnInvalidPolicy == InvalidPolicyAction.Veto)
            {
                LogVetoed(pod.Namespace, pod.Name, container.Name, problem);
                Notice(PolicyNoticeKind.Vetoed, pod, container.Name, $"container {container.Name} vetoed: {problem}");
                throw new NriVetoException($"seccomp-ebpf: pod {pod.Namespace}/{pod.Name} container {container.Name}: {problem}");
            }
            LogRefused(pod.Namespace, pod.Name, container.Name, problem);
            Notice(PolicyNoticeKind.NotEnforced, pod, container.Name, $"container {container.Name} is not enforced: {problem}");
            return p with { State = PolicyState.Refused, Reason = problem };
        }
    }

    /// <summary>StopContainer/RemoveContainer: the container's processes are gone; free its binding.</summary>
    public void Release(string containerId, bool forget)
    {
        using (Locked())
        {
            if (!_policies.TryGetValue(containerId, out var policy))
                return;
            UnbindLocked(policy);
            if (forget)
                _policies.Remove(containerId);
            else
                _policies[containerId] = policy with { BoundCgroupId = 0, Report = null, State = policy.WantsBinding ? PolicyState.Pending : PolicyState.Unmanaged };
        }
    }

    /// <summary>
    /// A new policy for a container that already exists (apply, annotation edit, fallback): bound at once when it runs,
    /// pending until StartContainer otherwise. <paramref name="from"/> names what it replaces, for the Kubernetes Event.
    /// </summary>
    private ContainerPolicy ReplaceLocked(PodRecord pod, ContainerRecord container, ContainerPolicy next, string? from = null)
    {
        if (container.Phase != ContainerPhase.Started)
            return next with { State = next.WantsBinding ? PolicyState.Pending : PolicyState.Unmanaged };
        _rebindingFrom = from;
        try
        {
            return BindLocked(pod, container, next, veto: false);
        }
        finally
        {
            _rebindingFrom = null;
        }
    }

    private void UnbindLocked(ContainerPolicy policy)
    {
        if (policy.BoundCgroupId == 0)
            return;
        try
        {
            _engine?.Unbind(policy.BoundCgroupId);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The container is going away or changing policy either way; the stale entry is found again at Reconcile.
            LogUnbindFailed(policy.ContainerId, policy.BoundCgroupId, EngineProblem(e));
        }
        _containerByCgroup.Remove(policy.BoundCgroupId);
    }

    // ArgumentException appends " (Parameter 'name')", which means nothing to whoever reads a veto.
    private static string EngineProblem(Exception e) =>
        e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>After Synchronize (a new connection, possibly a new daemon): rebind every running container, drop stale bindings.</summary>
    public void Reconcile()
    {
        // One container per lock hold: after a restart this binds every running container, and NRI events that arrive
        // meanwhile (StartContainer has a deadline) must not wait for all of them.
        var running = _registry.Containers.Where(c => c.Phase == ContainerPhase.Started && c.CgroupId != 0).ToList();
        foreach (var snapshot in running)
        {
            using (Locked())
            {
                // Removed or restarted since the snapshot: its own events have dealt with it.
                if (_registry.FindContainer(snapshot.Id) is not { Phase: ContainerPhase.Started } container || container.CgroupId != snapshot.CgroupId)
                    continue;
                var pod = _registry.FindPod(container.PodId) ?? new PodRecord(container.PodId, "", "", "", new Dictionary<string, string>(), new Dictionary<string, string>());
                var policy = _policies.GetValueOrDefault(container.Id);
                if (policy is null)
                {
                    try
                    {
                        policy = Select(pod, container);
                    }
                    catch (NriVetoException e)
                    {
                        // Too late to veto a running container: report it.
                        _policies[container.Id] = new ContainerPolicy(container.Id, new PolicySelection(null, null, PolicyMode.Off, null), State: PolicyState.Refused, Reason: e.Message);
                        continue;
                    }
                }
                // An adopted binding already enforces; Bind on the same cgroup and hash replaces it without a gap.
                _policies[container.Id] = BindLocked(pod, container, policy with { BoundCgroupId = container.CgroupId }, veto: false);
            }
        }
        using (Locked())
        {
            if (_engine is { } engine)
            {
                // Judged against the registry now, not the snapshot: containers started meanwhile are live.
                var live = _registry.Containers.Where(c => c.Phase == ContainerPhase.Started && c.CgroupId != 0).Select(c => c.CgroupId).ToHashSet();
                foreach (var binding in engine.Bindings.Where(b => !live.Contains(b.CgroupId)).ToList())
                {
                    LogStaleBinding(binding.CgroupId);
                    engine.Unbind(binding.CgroupId);
                    _containerByCgroup.Remove(binding.CgroupId);
                }
            }
            foreach (var gone in _policies.Keys.Where(id => _registry.FindContainer(id) is null).ToList())
                _policies.Remove(gone);
        }
    }

    /// <summary>`seccomp-ebpf apply`: change the profile or mode of running containers until their pod goes away.</summary>
    /// <exception cref="PolicySelectionException">Unknown target, bad mode or profile; nothing was changed.</exception>
    public IReadOnlyList<string> Apply(string? podRef, string? containerId, string? profile, string? mode)
    {
        PolicyMode? newMode = mode switch
        {
            null => null,
            "enforce" => PolicyMode.Enforce,
            "audit" => PolicyMode.Audit,
            "off" => PolicyMode.Off,
            _ => throw new PolicySelectionException($"mode \"{mode}\" must be enforce, audit or off"),
        };
        var loaded = profile is null || profile == "unconfined" ? null : _profiles.Get(profile);
        var targets = Targets(podRef, containerId);
        using (Locked())
        {
            foreach (var container in targets)
            {
                var pod = _registry.FindPod(container.PodId)!;
                var policy = _policies.GetValueOrDefault(container.Id) ?? new ContainerPolicy(container.Id, new PolicySelection(null, null, PolicyMode.Enforce, null));
                policy = policy with
                {
                    ProfileOverride = profile ?? policy.ProfileOverride,
                    ModeOverride = newMode ?? policy.ModeOverride,
                    Profile = loaded ?? policy.Profile,
                };
                if (policy.WantsBinding && policy.Profile is null)
                    policy = policy with { Profile = _profiles.Get(policy.ProfileReference!) };
                LogApplied(pod.Namespace, pod.Name, container.Name, policy.ProfileReference ?? "-", policy.Mode.ToString());
                _policies[container.Id] = ReplaceLocked(pod, container, policy);
            }
        }
        return targets.Select(c => c.Id).ToList();
    }

    private List<ContainerRecord> Targets(string? podRef, string? containerId)
    {
        if (containerId is not null)
        {
            var matches = _registry.Containers.Where(c => c.Id == containerId || (containerId.Length >= 6 && c.Id.StartsWith(containerId, StringComparison.Ordinal))).ToList();
            return matches.Count switch
            {
                1 => matches,
                0 => throw new PolicySelectionException($"no container with id {containerId}"),
                _ => throw new PolicySelectionException($"container id prefix {containerId} is ambiguous ({matches.Count} containers)"),
            };
        }
        var slash = podRef!.IndexOf('/');
        if (slash <= 0)
            throw new PolicySelectionException($"pod \"{podRef}\" must be NAMESPACE/NAME");
        var (ns, name) = (podRef[..slash], podRef[(slash + 1)..]);
        var pods = _registry.Pods.Where(p => p.Namespace == ns && p.Name == name).Select(p => p.Id).ToHashSet();
        if (pods.Count == 0)
            throw new PolicySelectionException($"no pod {podRef} on this node");
        return _registry.Containers.Where(c => pods.Contains(c.PodId)).ToList();
    }

    private void OnProfileChanged(LoadedProfile loaded)
    {
        using (Locked())
        {
            foreach (var policy in _policies.Values.Where(p => p.ProfileReference == loaded.Reference).ToList())
            {
                var updated = policy with { Profile = loaded };
                var container = _registry.FindContainer(policy.ContainerId);
                if (container is { Phase: ContainerPhase.Started } && policy.BoundCgroupId != 0 && _registry.FindPod(container.PodId) is { } pod)
                    updated = BindLocked(pod, container, updated, veto: false);
                _policies[policy.ContainerId] = updated;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Vetoed pod {Namespace}/{Pod} container {Container}: {Problem}")]
    private partial void LogVetoed(string @namespace, string pod, string container, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Starting pod {Namespace}/{Pod} container {Container} unmanaged: {Problem}")]
    private partial void LogStartedUnmanaged(string @namespace, string pod, string container, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pod {Namespace}/{Pod} container {Container} is not enforced: {Problem}")]
    private partial void LogRefused(string @namespace, string pod, string container, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Bound pod {Namespace}/{Pod} container {Container} ({ContainerId}) to profile {Profile} v{Version}: {State}, cgroup {CgroupId}, degraded {Degraded}, syscalls {Exactness}")]
    private partial void LogBound(string @namespace, string pod, string container, string containerId, string profile, int version, string state, ulong cgroupId, bool degraded, string exactness);

    [LoggerMessage(Level = LogLevel.Information, Message = "Apply to pod {Namespace}/{Pod} container {Container}: profile {Profile}, mode {Mode}")]
    private partial void LogApplied(string @namespace, string pod, string container, string profile, string mode);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unbinding container {ContainerId} (cgroup {CgroupId}) failed: {Problem}")]
    private partial void LogUnbindFailed(string containerId, ulong cgroupId, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removing stale binding of cgroup {CgroupId}: no running container uses it")]
    private partial void LogStaleBinding(ulong cgroupId);
}
