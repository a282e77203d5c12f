using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Lifecycle;

/// <summary>Where a container's policy stands.</summary>
/// <remarks>Recording: bound to the allow-all recording binding only (the container records and has no profile).</remarks>
internal enum PolicyState { Unmanaged, Pending, Enforced, Audited, Refused, Recording }

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
    string? Reason = null,
    bool Recording = false,
    DateTimeOffset? RecordingSince = null,
    string? ShadowOverride = null,
    bool ShadowCleared = false,
    LoadedProfile? ShadowProfile = null,
    string? ShadowProblem = null)
{
    public string? ProfileReference => ProfileOverride ?? Selection.ProfileReference;
    /// <summary>The shadow profile asked for (docs/shadow.md): `apply --shadow` over the annotation; `--no-shadow` or a promotion clears it.</summary>
    public string? ShadowReference => ShadowCleared ? null : ShadowOverride ?? Selection.ShadowReference;
    public PolicyMode Mode => ModeOverride ?? Selection.Mode;
    /// <summary>A profile of its own is to be in force.</summary>
    public bool WantsProfile => ProfileReference is not null && Mode != PolicyMode.Off && ProfileReference != "unconfined";
    /// <summary>Recording needs a binding: without a profile, the container is bound to the allow-all built-in "unconfined".</summary>
    public bool RecordOnly => Recording && !WantsProfile;
    public bool WantsBinding => WantsProfile || Recording;
}

/// <summary>
/// Joins the container lifecycle, the profile store and the enforcement engine: selects a profile when a container
/// is created (<see cref="PolicySelector"/>), binds it before the container's entrypoint runs (<see cref="PolicyBinder"/>),
/// rebinds on edits, `apply`, annotation edits and profile removals, unbinds at the end. Every decision is written to
/// the <see cref="ContainerTable"/> under its lock; notices about them leave after the lock is released (<see cref="NoticeOutbox"/>).
/// </summary>
internal sealed partial class PolicyController
{
    private readonly ContainerTable _table;
    private readonly ProfileStore _profiles;
    private readonly PolicyBinder _binder;
    private readonly PolicySelector _selector;
    private readonly PolicyOptions _options;
    private readonly ILogger<PolicyController> _logger;
    private readonly NoticeOutbox _outbox;
    private readonly ConcurrentDictionary<(string Namespace, string Name), LivePodAnnotations> _liveAnnotations = new();

    /// <param name="engine">The enforcement engine; null when it could not be opened (no BPF, not root).</param>
    /// <param name="engineFailure">Why <paramref name="engine"/> is null, for every container that cannot be enforced.</param>
    public PolicyController(ContainerTable table, ProfileStore profiles, IEnforcement? engine, string? engineFailure, PolicyOptions options,
        ILogger<PolicyController> logger)
    {
        _table = table;
        _profiles = profiles;
        _binder = new PolicyBinder(engine, engineFailure, options.OnInvalidPolicy);
        _selector = new PolicySelector(options.DefaultProfile, options.HonourLegacyAnnotations);
        _options = options;
        _logger = logger;
        _outbox = new NoticeOutbox(logger);
        _profiles.Changed += OnProfileChanged;
    }

    /// <summary>Raised after the table's lock is released: a handler may call back into the controller.</summary>
    public event Action<PolicyNotice>? Noticed
    {
        add => _outbox.Noticed += value;
        remove => _outbox.Noticed -= value;
    }

    /// <summary>The container bound to <paramref name="cgroupId"/>, for naming events.</summary>
    public string? ContainerOfCgroup(ulong cgroupId) => _table.OwnerOfCgroup(cgroupId)?.Entry.Id;

    public ContainerPolicy? PolicyOf(string containerId) => _table.Find(containerId)?.Policy;

    /// <summary>CreateContainer: select and load the profile, then list the container with it.</summary>
    /// <exception cref="NriVetoException">The selection is invalid and the configuration says veto.</exception>
    public void Admit(PodRecord pod, ContainerRecord container) => Admit(container, Decide(pod, container));

    /// <summary>Lists a created container with the policy <see cref="Decide"/> chose (null: none yet; selected at its start).</summary>
    public void Admit(ContainerRecord container, ContainerPolicy? policy)
    {
        using (Locked())
            _table.Put(new ContainerEntry(container, policy));
    }

    /// <summary>
    /// Selects and loads a container's profile, taking no lock: an invalid selection vetoes the container (or leaves it
    /// unmanaged, per configuration).
    /// </summary>
    /// <exception cref="NriVetoException">The selection is invalid and the configuration says veto.</exception>
    public ContainerPolicy Decide(PodRecord pod, ContainerRecord container)
    {
        var live = _liveAnnotations.GetValueOrDefault((pod.Namespace, pod.Name));
        PolicySelection selection;
        try
        {
            selection = _selector.Select(pod, container, live);
        }
        catch (PolicySelectionException e)
        {
            return Invalid(pod, container, new PolicySelection(null, null, PolicyMode.Off, null), e.Message);
        }
        var policy = WithShadowLoaded(new ContainerPolicy(container.Id, selection, Recording: selection.Record));
        if (!policy.WantsBinding)
            return policy;
        try
        {
            return policy with { Profile = ProfileToBind(policy), State = PolicyState.Pending };
        }
        catch (PolicySelectionException e)
        {
            return Invalid(pod, container, selection, $"annotation {selection.ProfileSource}: {e.Message}");
        }
    }

    // The profile a policy binds: its own, or for a container that only records the allow-all built-in.
    private LoadedProfile ProfileToBind(ContainerPolicy policy) => _profiles.Get(policy.RecordOnly ? "unconfined" : policy.ProfileReference!);

    private ContainerPolicy Invalid(PodRecord pod, ContainerRecord container, PolicySelection selection, string problem)
    {
        if (_options.OnInvalidPolicy == InvalidPolicyAction.Veto)
        {
            LogVetoed(pod.Namespace, pod.Name, container.Name, problem);
            Notice(PolicyNoticeKind.Vetoed, pod, container.Name, $"container {container.Name} vetoed: {problem}");
            throw new NriVetoException($"seccomp-ebpf: pod {pod.Namespace}/{pod.Name} container {container.Name}: {problem}");
        }
        LogStartedUnmanaged(pod.Namespace, pod.Name, container.Name, problem);
        Notice(PolicyNoticeKind.NotEnforced, pod, container.Name, $"container {container.Name} started unmanaged: {problem}");
        return new ContainerPolicy(container.Id, selection, State: PolicyState.Unmanaged, Reason: problem);
    }

    /// <summary>
    /// StartContainer: bind before the reply, so the entrypoint never runs unconfined. <paramref name="container"/> must be
    /// listed already (<see cref="ContainerTable.UpsertContainer"/>); one that is not was dropped meanwhile (vetoed at its
    /// deadline, removed) and is left alone.
    /// </summary>
    /// <exception cref="NriVetoException">The policy cannot be enforced and the configuration says veto; the container left the table.</exception>
    public void Start(PodRecord pod, ContainerRecord container)
    {
        // Created before this daemon saw it: selected now, outside the lock (its profile may have to be loaded).
        var selected = _table.Find(container.Id) is { Policy: null } ? Decide(pod, container) : null;
        using (Locked())
        {
            if (_table.Find(container.Id) is not { } entry)
                return;
            var policy = entry.Policy ?? selected ?? Decide(pod, container);
            ApplyLocked(pod, container, policy, _binder.Bind(container, policy, mayVeto: true), from: null);
        }
    }

    /// <summary>
    /// Writes what became of <paramref name="before"/> to the table and queues the notices it deserves. A veto removes
    /// the container from the table and throws.
    /// </summary>
    /// <param name="from">What the new policy replaces, for the Kubernetes Event ("was X"); null: the bound report says.</param>
    private ContainerPolicy ApplyLocked(PodRecord pod, ContainerRecord container, ContainerPolicy before, BindOutcome outcome, string? from)
    {
        ContainerPolicy after;
        switch (outcome)
        {
            case BindOutcome.Bound bound:
            {
                var report = bound.Report;
                after = before with
                {
                    State = before.RecordOnly ? PolicyState.Recording : bound.Mode == EnforcementMode.Audit ? PolicyState.Audited : PolicyState.Enforced,
                    BoundCgroupId = container.CgroupId,
                    Report = report,
                    Reason = report.IsDegraded ? "some actions are degraded on this kernel (see enforcement)" : null,
                    ShadowProblem = bound.ShadowProblem ?? (bound.ShadowSet ? null : before.ShadowProblem),
                };
                // reported once per problem: a shadow that could not be loaded (Decide) or set (the engine)
                var wasBound = _table.Find(container.Id)?.Policy is { BoundCgroupId: not 0 } previous ? previous : null;
                if (after.ShadowProblem is { } shadowProblem && (wasBound is null || wasBound.ShadowProblem != shadowProblem))
                {
                    LogShadowProblem(pod.Namespace, pod.Name, container.Name, shadowProblem);
                    Notice(PolicyNoticeKind.NotEnforced, pod, container.Name, $"container {container.Name}: {shadowProblem}; the profile in force is unchanged");
                }
                // A fresh binding starts the recording (at StartContainer: before the entrypoint's first instruction);
                // a rebind keeps the one running.
                if (before.Recording && before.BoundCgroupId != container.CgroupId)
                    after = StartRecordingLocked(pod, container, after);
                LogBound(pod.Namespace, pod.Name, container.Name, container.Id, before.RecordOnly ? "unconfined (recording)" : before.ProfileReference!, before.Profile!.Version,
                    after.State.ToString(), container.CgroupId, report.IsDegraded, report.Exactness?.ToString() ?? "not planned");
                NoticeBound(pod, container, before, after, from);
                break;
            }
            case BindOutcome.Unbound unbound:
                if (before.BoundCgroupId != 0 && before.Report is not null)
                    Notice(PolicyNoticeKind.Changed, pod, container.Name, $"container {container.Name}: no profile in force any more (was {ShortHash(before.Report.ProfileHash)}); the container is unmanaged");
                if (unbound.UnbindProblem is { } unbindProblem)
                    LogUnbindFailed(container.Id, before.BoundCgroupId, unbindProblem); // the stale entry is found again at Reconcile
                after = before with { State = PolicyState.Unmanaged, Report = null, BoundCgroupId = 0, Recording = false, RecordingSince = null };
                break;
            case BindOutcome.Vetoed vetoed:
                LogVetoed(pod.Namespace, pod.Name, container.Name, vetoed.Problem);
                Notice(PolicyNoticeKind.Vetoed, pod, container.Name, $"container {container.Name} vetoed: {vetoed.Problem}");
                // A vetoed container never runs its entrypoint: it leaves the table (and ps) now rather than staying "pending".
                _table.Remove(container.Id);
                if (_binder.Unbind(before.BoundCgroupId) is { } problem)
                    LogUnbindFailed(container.Id, before.BoundCgroupId, problem);
                throw new NriVetoException($"seccomp-ebpf: pod {pod.Namespace}/{pod.Name} container {container.Name}: {vetoed.Problem}");
            case BindOutcome.Refused refused:
                after = NotEnforced(refused.Problem);
                break;
            case BindOutcome.Unprotected unprotected:
                after = NotEnforced(unprotected.Problem);
                break;
            default:
                throw new InvalidOperationException($"unknown binding outcome {outcome}");
        }
        _table.Put(new ContainerEntry(container, after));
        return after;

        // The previous binding, if any, stays in force: the engine replaces a binding whole or not at all.
        ContainerPolicy NotEnforced(string problem)
        {
            LogRefused(pod.Namespace, pod.Name, container.Name, problem);
            Notice(PolicyNoticeKind.NotEnforced, pod, container.Name, $"container {container.Name} is not enforced: {problem}");
            return before with { State = PolicyState.Refused, Reason = problem };
        }
    }

    /// <summary>StopContainer (<paramref name="forget"/> false) / RemoveContainer (true): the container's processes are gone; free its binding.</summary>
    public void Release(string containerId, bool forget)
    {
        using (Locked())
        {
            if (_table.Find(containerId) is not { } entry)
                return;
            if (entry.Policy is { BoundCgroupId: not 0 } bound && _binder.Unbind(bound.BoundCgroupId) is { } problem)
                LogUnbindFailed(containerId, bound.BoundCgroupId, problem); // the stale entry is found again at Reconcile
            if (forget)
                _table.Remove(containerId);
            else if (entry.Policy is { } policy)
                _table.Put(entry with { Policy = policy with { BoundCgroupId = 0, Report = null, State = policy.WantsBinding ? PolicyState.Pending : PolicyState.Unmanaged, RecordingSince = null } });
        }
    }

    /// <summary>
    /// A new policy for a container that already exists (apply, annotation edit, fallback): bound at once when it runs,
    /// pending until StartContainer otherwise. <paramref name="from"/> names what it replaces, for the Kubernetes Event.
    /// </summary>
    private void ReplaceLocked(PodRecord pod, ContainerRecord container, ContainerPolicy next, string? from = null)
    {
        if (container.Phase != ContainerPhase.Started)
        {
            _table.Put(new ContainerEntry(container, next with { State = next.WantsBinding ? PolicyState.Pending : PolicyState.Unmanaged }));
            return;
        }
        ApplyLocked(pod, container, next, _binder.Bind(container, next, mayVeto: false), from);
    }

    /// <summary>
    /// After Synchronize (a new connection, possibly a new daemon): rebind every running container of the table, then
    /// check the engine's bindings against the table and remove those no running container owns. A binding adopted from
    /// pinned state is only ever kept because the table says its container runs; it is never a record of its own.
    /// </summary>
    public void Reconcile()
    {
        // One container per lock hold: after a restart this binds every running container, and NRI events that arrive
        // meanwhile (StartContainer has a deadline) must not wait for all of them.
        var running = _table.Snapshot().Entries.Select(e => e.Container).Where(IsRunning).ToList();
        foreach (var snapshot in running)
        {
            // Removed or restarted since the snapshot: its own events have dealt with it.
            if (_table.Find(snapshot.Id) is not { } current || !IsRunning(current.Container) || current.Container.CgroupId != snapshot.CgroupId)
                continue;
            var pod = _table.FindPod(snapshot.PodId) ?? new PodRecord(snapshot.PodId, "", "", "", new Dictionary<string, string>(), new Dictionary<string, string>());
            ContainerPolicy? selected = null;
            if (current.Policy is null)
            {
                try
                {
                    selected = Decide(pod, current.Container); // outside the lock: it may load a profile
                }
                catch (NriVetoException e)
                {
                    // Too late to veto a running container: report it.
                    selected = new ContainerPolicy(snapshot.Id, new PolicySelection(null, null, PolicyMode.Off, null), State: PolicyState.Refused, Reason: e.Message);
                }
            }
            using (Locked())
            {
                if (_table.Find(snapshot.Id) is not { } entry || !IsRunning(entry.Container) || entry.Container.CgroupId != snapshot.CgroupId)
                    continue;
                var policy = entry.Policy ?? selected!;
                if (entry.Policy is null && policy.State == PolicyState.Refused)
                {
                    _table.Put(entry with { Policy = policy });
                    continue;
                }
                // An adopted binding already enforces; Bind on the same cgroup and hash replaces it without a gap.
                policy = policy with { BoundCgroupId = entry.Container.CgroupId };
                ApplyLocked(pod, entry.Container, policy, _binder.Bind(entry.Container, policy, mayVeto: false), from: null);
            }
        }
        using (Locked())
        {
            // Judged against the table now, not the snapshot: containers started meanwhile are live.
            var live = _table.EntriesLocked.Where(e => IsRunning(e.Container)).Select(e => e.Container.CgroupId).ToHashSet();
            foreach (var binding in _binder.Bindings.Where(b => !live.Contains(b.CgroupId)).ToList())
            {
                LogStaleBinding(binding.CgroupId);
                if (_binder.Unbind(binding.CgroupId) is { } problem)
                    LogUnbindFailed("(none)", binding.CgroupId, problem);
            }
        }
    }

    private static bool IsRunning(ContainerRecord container) => container.Phase == ContainerPhase.Started && container.CgroupId != 0;

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
        using (Locked())
        {
            var targets = TargetsLocked(podRef, containerId);
            foreach (var entry in targets)
            {
                var container = entry.Container;
                var pod = _table.FindPod(container.PodId)!;
                var policy = entry.Policy ?? new ContainerPolicy(container.Id, new PolicySelection(null, null, PolicyMode.Enforce, null));
                policy = policy with
                {
                    ProfileOverride = profile ?? policy.ProfileOverride,
                    ModeOverride = newMode ?? policy.ModeOverride,
                    Profile = loaded ?? policy.Profile,
                };
                if (policy.RecordOnly)
                    policy = policy with { Profile = ProfileToBind(policy) };
                else if (policy.WantsBinding && policy.Profile is null)
                    policy = policy with { Profile = _profiles.Get(policy.ProfileReference!) };
                LogApplied(pod.Namespace, pod.Name, container.Name, policy.ProfileReference ?? "-", policy.Mode.ToString());
                ReplaceLocked(pod, container, policy);
            }
            return targets.Select(e => e.Id).ToList();
        }
    }

    private List<ContainerEntry> TargetsLocked(string? podRef, string? containerId)
    {
        if (containerId is not null)
        {
            var matches = _table.EntriesLocked.Where(e => e.Id == containerId || (containerId.Length >= 6 && e.Id.StartsWith(containerId, StringComparison.Ordinal))).ToList();
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
        var pods = _table.PodsLocked.Where(p => p.Namespace == ns && p.Name == name).Select(p => p.Id).ToHashSet();
        if (pods.Count == 0)
            throw new PolicySelectionException($"no pod {podRef} on this node");
        return _table.EntriesLocked.Where(e => pods.Contains(e.Container.PodId)).ToList();
    }

    private void OnProfileChanged(LoadedProfile loaded)
    {
        using (Locked())
        {
            foreach (var entry in _table.EntriesLocked.Where(e => e.Policy?.ProfileReference == loaded.Reference || e.Policy?.ShadowReference == loaded.Reference).ToList())
            {
                var updated = entry.Policy!;
                if (updated.ProfileReference == loaded.Reference)
                    updated = updated with { Profile = loaded };
                if (updated.ShadowReference == loaded.Reference)
                    updated = updated with { ShadowProfile = loaded, ShadowProblem = null }; // an edited shadow starts counting again
                var container = entry.Container;
                if (container.Phase == ContainerPhase.Started && updated.BoundCgroupId != 0 && _table.FindPod(container.PodId) is { } pod)
                    ApplyLocked(pod, container, updated, _binder.Bind(container, updated, mayVeto: false), from: null);
                else
                    _table.Put(entry with { Policy = updated });
            }
        }
    }

    /// <summary>Remembers what the API server says about a pod so containers created later use it, not the runtime's stale copy.</summary>
    public void SetLiveAnnotations(string @namespace, string name, string uid, IReadOnlyDictionary<string, string> policyAnnotations) =>
        _liveAnnotations[(@namespace, name)] = new LivePodAnnotations(uid, PolicyAnnotations.PolicyAnnotationsOf(policyAnnotations));

    public void ForgetLiveAnnotations(string @namespace, string name) => _liveAnnotations.TryRemove((@namespace, name), out _);

    /// <summary>
    /// A pod's policy annotations changed in the API server: re-select its containers and rebind the running ones
    /// through the same path as `apply`. A container whose selection changed loses its `apply` overrides (the newest
    /// instruction wins); a removed annotation falls back to the configured default (or unmanaged). An invalid new
    /// selection keeps the current policy and is reported.
    /// </summary>
    /// <returns>The ids of the containers whose policy changed.</returns>
    public IReadOnlyList<string> Reselect(string @namespace, string name, string? uid, IReadOnlyDictionary<string, string> policyAnnotations)
    {
        var changed = new List<string>();
        using (Locked())
        {
            foreach (var pod in _table.PodsLocked.Where(p => p.Namespace == @namespace && p.Name == name && PolicySelector.SamePod(p, uid)).ToList())
            {
                var updated = pod with { Annotations = PolicySelector.Merge(pod.Annotations, PolicyAnnotations.PolicyAnnotationsOf(policyAnnotations)) };
                _table.PutPodLocked(updated);
                foreach (var entry in _table.EntriesLocked.Where(e => e.Container.PodId == pod.Id && e.Container.Phase != ContainerPhase.Stopped).ToList())
                {
                    var container = entry.Container;
                    var old = entry.Policy;
                    ContainerPolicy next;
                    try
                    {
                        var selection = _selector.Select(updated, container);
                        if (old is not null && old.Selection.ProfileReference == selection.ProfileReference && old.Selection.Mode == selection.Mode
                            && old.Selection.ShadowReference == selection.ShadowReference)
                            continue;
                        next = WithShadowLoaded((old ?? new ContainerPolicy(container.Id, selection)) with
                        {
                            Selection = selection, ProfileOverride = null, ModeOverride = null, Profile = null, Reason = null,
                            ShadowOverride = null, ShadowCleared = false, ShadowProfile = null, ShadowProblem = null,
                        });
                        if (next.WantsBinding)
                            next = next with { Profile = ProfileToBind(next) }; // a recording goes on, with or without a profile
                    }
                    catch (PolicySelectionException e)
                    {
                        var problem = $"new annotations not applied, the current policy ({old?.ProfileReference ?? "none"}) stays: {e.Message}";
                        LogReselectRejected(pod.Namespace, pod.Name, container.Name, problem);
                        Notice(PolicyNoticeKind.AnnotationRejected, updated, container.Name, problem);
                        continue;
                    }
                    LogReselected(pod.Namespace, pod.Name, container.Name, next.ProfileReference ?? "-", next.Mode.ToString());
                    ReplaceLocked(updated, container, next, from: old?.ProfileReference is { } was ? $"{was} v{old.Profile?.Version}" : null);
                    changed.Add(container.Id);
                }
            }
        }
        return changed;
    }

    /// <summary>
    /// The profile <paramref name="reference"/> is gone: its containers fall back to the configured default profile
    /// (unmanaged when there is none), until their annotations change or `apply` says otherwise.
    /// </summary>
    public IReadOnlyList<string> FallBackFrom(string reference, string why)
    {
        var changed = new List<string>();
        using (Locked())
        {
            foreach (var entry in _table.EntriesLocked.Where(e => e.Policy?.ProfileReference == reference).ToList())
            {
                var (container, policy) = (entry.Container, entry.Policy!);
                if (_table.FindPod(container.PodId) is not { } pod)
                    continue;
                var fallback = _options.DefaultProfile is { } d && d != reference ? d : null;
                var next = policy with { ProfileOverride = fallback, Profile = null, ModeOverride = fallback is null ? PolicyMode.Off : policy.ModeOverride };
                try
                {
                    if (next.WantsBinding)
                        next = next with { Profile = _profiles.Get(next.ProfileReference!) };
                }
                catch (PolicySelectionException e)
                {
                    fallback = null;
                    next = policy with { ProfileOverride = null, Profile = null, ModeOverride = PolicyMode.Off, Reason = e.Message };
                }
                var outcome = fallback is null ? "the container is no longer managed (no usable policy.defaultProfile)" : $"the container falls back to the default profile {fallback}";
                LogFellBack(pod.Namespace, pod.Name, container.Name, reference, outcome);
                Notice(PolicyNoticeKind.FellBack, pod, container.Name, $"{why}; {outcome}");
                ReplaceLocked(pod, container, next, from: $"{reference} v{policy.Profile?.Version}");
                changed.Add(container.Id);
            }
        }
        return changed;
    }

    /// <summary>Pods and containers whose policy uses <paramref name="reference"/>.</summary>
    public IReadOnlyList<(PodRecord Pod, ContainerRecord Container)> UsersOf(string reference)
    {
        var snapshot = _table.Snapshot();
        return snapshot.Entries.Where(e => e.Policy?.ProfileReference == reference)
            .Select(e => (Pod: snapshot.PodOf(e), e.Container))
            .Where(x => x.Pod is not null)
            .Select(x => (x.Pod!, x.Container))
            .ToList();
    }

    private void Notice(PolicyNoticeKind kind, PodRecord pod, string container, string message)
    {
        _outbox.Enqueue(new PolicyNotice(kind, pod.Namespace, pod.Name, pod.Uid, container, message));
        if (!_table.IsHeldByCurrentThread)
            _outbox.Publish();
    }

    /// <summary>Takes the table's lock; leaving the scope releases it, then publishes the notices queued meanwhile.</summary>
    private LockedScope Locked() => new(this, _table.Enter());

    private ref struct LockedScope(PolicyController owner, Lock.Scope scope)
    {
        private Lock.Scope _scope = scope;

        public void Dispose()
        {
            _scope.Dispose();
            if (!owner._table.IsHeldByCurrentThread)
                owner._outbox.Publish();
        }
    }

    /// <summary>After a bind: report a new binding, a change of profile or mode, and degraded actions.</summary>
    private void NoticeBound(PodRecord pod, ContainerRecord container, ContainerPolicy before, ContainerPolicy after, string? from)
    {
        if (after.Report is not { } report)
            return;
        var adopted = before.Report is null && before.BoundCgroupId != 0; // Reconcile after a daemon restart: nothing new
        var same = before.Report is { } r && r.ProfileHash == report.ProfileHash && r.Mode == report.Mode;
        if (adopted || same)
            return;
        var what = $"container {container.Name}: profile {after.ProfileReference} v{after.Profile?.Version} ({ShortHash(report.ProfileHash)}), mode {after.Mode.ToString().ToLowerInvariant()}";
        if (before.BoundCgroupId == 0)
            Notice(PolicyNoticeKind.Applied, pod, container.Name, $"{what} applied");
        else
            Notice(PolicyNoticeKind.Changed, pod, container.Name, $"{what} now in force (was {from ?? Was(before)})");
        if (report.IsDegraded)
        {
            var degraded = report.Actions.Where(a => a.Mechanism == EnforcementMechanism.Degraded).Select(a => a.Explanation).Distinct().Take(5);
            // the Event names what runs unprevented, so nobody has to read the plan to learn it
            var notPrevented = report.Exactness is { NotPrevented: > 0 } x
                ? $" ({x}; not prevented: {string.Join(", ", x.NotPreventedSyscalls.Take(20))}{(x.NotPrevented > 20 ? ", …" : "")})"
                : "";
            Notice(PolicyNoticeKind.Degraded, pod, container.Name, $"container {container.Name}: enforcement of profile {after.ProfileReference} is degraded on this node{notPrevented}: {string.Join("; ", degraded)}");
        }
    }

    private static string ShortHash(string hash) => hash[..Math.Min(12, hash.Length)];

    private static string Was(ContainerPolicy before) => before.Report is { } r
        ? $"{ShortHash(r.ProfileHash)}, mode {(r.Mode == EnforcementMode.Audit ? "audit" : "enforce")}"
        : "unbound";

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

    [LoggerMessage(Level = LogLevel.Information, Message = "Annotations of pod {Namespace}/{Pod} changed: container {Container} re-selected profile {Profile}, mode {Mode}")]
    private partial void LogReselected(string @namespace, string pod, string container, string profile, string mode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Annotations of pod {Namespace}/{Pod} changed: container {Container}: {Problem}")]
    private partial void LogReselectRejected(string @namespace, string pod, string container, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pod {Namespace}/{Pod} container {Container}: {Problem}; the profile in force is unchanged")]
    private partial void LogShadowProblem(string @namespace, string pod, string container, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pod {Namespace}/{Pod} container {Container}: profile {Profile} is gone; {Outcome}")]
    private partial void LogFellBack(string @namespace, string pod, string container, string profile, string outcome);
}
