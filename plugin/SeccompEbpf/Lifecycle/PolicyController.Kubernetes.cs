using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Lifecycle;

/// <summary>What happened to a container's policy that its owner should hear about (Kubernetes Events).</summary>
internal enum PolicyNoticeKind { Vetoed, NotEnforced, Applied, Changed, Degraded, AnnotationRejected, FellBack, ProfileRejected }

/// <summary>One notice about a container of a pod; <see cref="Message"/> is complete and human-readable.</summary>
internal sealed record PolicyNotice(PolicyNoticeKind Kind, string Namespace, string Pod, string PodUid, string Container, string Message);

// The Kubernetes side of the controller: annotation edits on running pods, ConfigMap profile removals, and notices.
internal sealed partial class PolicyController
{
    private readonly ConcurrentDictionary<(string Namespace, string Name), LivePodAnnotations> _liveAnnotations = new();

    // The profile a container was bound to before a re-selection or fallback (under _lock), for "was X" in notices.
    private string? _rebindingFrom;

    /// <summary>Raised synchronously, under the controller's lock: handlers must only queue work.</summary>
    public event Action<PolicyNotice>? Noticed;

    /// <summary>The policy annotations the API server currently reports for a pod (the runtime's copy is from creation time).</summary>
    private sealed record LivePodAnnotations(string Uid, IReadOnlyDictionary<string, string> Annotations);

    /// <summary>Annotations that select policy: seccomp-ebpf.io/* and the legacy Kubernetes seccomp ones.</summary>
    public static bool IsPolicyAnnotation(string key) =>
        key.StartsWith("seccomp-ebpf.io/", StringComparison.Ordinal) ||
        key == PolicyAnnotations.LegacyPod ||
        key.StartsWith(PolicyAnnotations.LegacyContainerPrefix, StringComparison.Ordinal);

    /// <summary>The policy annotations of <paramref name="annotations"/>.</summary>
    public static Dictionary<string, string> PolicyAnnotationsOf(IReadOnlyDictionary<string, string>? annotations) =>
        (annotations ?? new Dictionary<string, string>()).Where(a => IsPolicyAnnotation(a.Key)).ToDictionary(StringComparer.Ordinal);

    /// <summary>True when both sets of policy annotations are the same.</summary>
    public static bool SamePolicyAnnotations(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var x = PolicyAnnotationsOf(a);
        var y = PolicyAnnotationsOf(b);
        return x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && v == kv.Value);
    }

    /// <summary>Remembers what the API server says about a pod so containers created later use it, not the runtime's stale copy.</summary>
    public void SetLiveAnnotations(string @namespace, string name, string uid, IReadOnlyDictionary<string, string> policyAnnotations) =>
        _liveAnnotations[(@namespace, name)] = new LivePodAnnotations(uid, PolicyAnnotationsOf(policyAnnotations));

    public void ForgetLiveAnnotations(string @namespace, string name) => _liveAnnotations.TryRemove((@namespace, name), out _);

    /// <summary><paramref name="pod"/> with its policy annotations replaced by the API server's, when known.</summary>
    private PodRecord WithLiveAnnotations(PodRecord pod)
    {
        if (!_liveAnnotations.TryGetValue((pod.Namespace, pod.Name), out var live) || !SamePod(pod, live.Uid))
            return pod;
        return pod with { Annotations = Merge(pod.Annotations, live.Annotations) };
    }

    private static bool SamePod(PodRecord pod, string? uid) => string.IsNullOrEmpty(uid) || string.IsNullOrEmpty(pod.Uid) || pod.Uid == uid;

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> runtime, IReadOnlyDictionary<string, string> policy)
    {
        var merged = runtime.Where(a => !IsPolicyAnnotation(a.Key)).ToDictionary(StringComparer.Ordinal);
        foreach (var (key, value) in policy)
            merged[key] = value;
        return merged;
    }

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
            foreach (var pod in _registry.Pods.Where(p => p.Namespace == @namespace && p.Name == name && SamePod(p, uid)).ToList())
            {
                var updated = pod with { Annotations = Merge(pod.Annotations, PolicyAnnotationsOf(policyAnnotations)) };
                _registry.UpsertPod(updated);
                foreach (var container in _registry.Containers.Where(c => c.PodId == pod.Id && c.Phase != ContainerPhase.Stopped).ToList())
                {
                    var old = _policies.GetValueOrDefault(container.Id);
                    ContainerPolicy next;
                    try
                    {
                        var selection = PolicyAnnotations.Select(updated.Annotations, container.Annotations, container.Name, _options.DefaultProfile, _options.HonourLegacyAnnotations);
                        if (old is not null && old.Selection.ProfileReference == selection.ProfileReference && old.Selection.Mode == selection.Mode)
                            continue;
                        next = (old ?? new ContainerPolicy(container.Id, selection)) with
                        {
                            Selection = selection, ProfileOverride = null, ModeOverride = null, Profile = null, Reason = null,
                        };
                        if (next.WantsBinding)
                            next = next with { Profile = _profiles.Get(next.ProfileReference!) };
                    }
                    catch (PolicySelectionException e)
                    {
                        var problem = $"new annotations not applied, the current policy ({old?.ProfileReference ?? "none"}) stays: {e.Message}";
                        LogReselectRejected(pod.Namespace, pod.Name, container.Name, problem);
                        Notice(PolicyNoticeKind.AnnotationRejected, updated, container.Name, problem);
                        continue;
                    }
                    LogReselected(pod.Namespace, pod.Name, container.Name, next.ProfileReference ?? "-", next.Mode.ToString());
                    _policies[container.Id] = ReplaceLocked(updated, container, next,
                        from: old?.ProfileReference is { } was ? $"{was} v{old.Profile?.Version}" : null);
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
            foreach (var policy in _policies.Values.Where(p => p.ProfileReference == reference).ToList())
            {
                var container = _registry.FindContainer(policy.ContainerId);
                var pod = container is null ? null : _registry.FindPod(container.PodId);
                if (container is null || pod is null)
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
                _policies[container.Id] = ReplaceLocked(pod, container, next, from: $"{reference} v{policy.Profile?.Version}");
                changed.Add(container.Id);
            }
        }
        return changed;
    }

    /// <summary>Pods and containers whose policy uses <paramref name="reference"/>.</summary>
    public IReadOnlyList<(PodRecord Pod, ContainerRecord Container)> UsersOf(string reference)
    {
        using (Locked())
        {
            return _policies.Values.Where(p => p.ProfileReference == reference)
                .Select(p => _registry.FindContainer(p.ContainerId))
                .Where(c => c is not null)
                .Select(c => (Pod: _registry.FindPod(c!.PodId), Container: c!))
                .Where(x => x.Pod is not null)
                .Select(x => (x.Pod!, x.Container))
                .ToList();
        }
    }

    /// <summary>Every policy, for metrics.</summary>
    public IReadOnlyList<ContainerPolicy> Policies
    {
        get
        {
            using (Locked())
                return _policies.Values.ToList();
        }
    }

    // Notices leave after the lock is released (ARCHITECTURE.md, "The daemon core"): a subscriber that blocks or calls
    // back into the controller never runs under it. They queue here and go out in order when the lock is left.
    private readonly System.Collections.Concurrent.ConcurrentQueue<PolicyNotice> _outbox = new();
    private readonly Lock _publishing = new();

    private void Notice(PolicyNoticeKind kind, PodRecord pod, string container, string message)
    {
        if (Noticed is null)
            return;
        _outbox.Enqueue(new PolicyNotice(kind, pod.Namespace, pod.Name, pod.Uid, container, message));
        if (!_lock.IsHeldByCurrentThread)
            PublishNotices();
    }

    private void PublishNotices()
    {
        if (_outbox.IsEmpty)
            return;
        lock (_publishing)
        {
            while (_outbox.TryDequeue(out var notice))
            {
                try
                {
                    Noticed?.Invoke(notice);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Reporting must never get in the way of enforcement.
                    LogNoticeFailed(notice.Kind.ToString(), e.Message);
                }
            }
        }
    }

    /// <summary>Takes the controller's lock; leaving the scope releases it, then publishes the notices queued meanwhile.</summary>
    private LockedScope Locked()
    {
        _lock.Enter();
        return new LockedScope(this);
    }

    private readonly struct LockedScope(PolicyController owner) : IDisposable
    {
        public void Dispose()
        {
            owner._lock.Exit();
            if (!owner._lock.IsHeldByCurrentThread)
                owner.PublishNotices();
        }
    }

    /// <summary>After a bind: report a new binding, a change of profile or mode, and degraded actions.</summary>
    private void NoticeBound(PodRecord pod, ContainerRecord container, ContainerPolicy before, ContainerPolicy after)
    {
        if (after.Report is not { } report)
            return;
        var adopted = before.Report is null && before.BoundCgroupId != 0; // Reconcile after a daemon restart: nothing new
        var same = before.Report is { } r && r.ProfileHash == report.ProfileHash && r.Mode == report.Mode;
        if (adopted || same)
            return;
        var what = $"container {container.Name}: profile {after.ProfileReference} v{after.Profile?.Version} ({report.ProfileHash[..Math.Min(12, report.ProfileHash.Length)]}), mode {after.Mode.ToString().ToLowerInvariant()}";
        if (before.BoundCgroupId == 0)
            Notice(PolicyNoticeKind.Applied, pod, container.Name, $"{what} applied");
        else
            Notice(PolicyNoticeKind.Changed, pod, container.Name, $"{what} now in force (was {_rebindingFrom ?? Was(before)})");
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

    private static string Was(ContainerPolicy before) => before.Report is { } r
        ? $"{r.ProfileHash[..Math.Min(12, r.ProfileHash.Length)]}, mode {(r.Mode == EnforcementMode.Audit ? "audit" : "enforce")}"
        : "unbound";

    [LoggerMessage(Level = LogLevel.Information, Message = "Annotations of pod {Namespace}/{Pod} changed: container {Container} re-selected profile {Profile}, mode {Mode}")]
    private partial void LogReselected(string @namespace, string pod, string container, string profile, string mode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Annotations of pod {Namespace}/{Pod} changed: container {Container}: {Problem}")]
    private partial void LogReselectRejected(string @namespace, string pod, string container, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pod {Namespace}/{Pod} container {Container}: profile {Profile} is gone; {Outcome}")]
    private partial void LogFellBack(string @namespace, string pod, string container, string profile, string outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Notice} notice could not be reported: {Problem}")]
    private partial void LogNoticeFailed(string notice, string problem);
}
