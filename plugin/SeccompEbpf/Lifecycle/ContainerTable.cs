using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Lifecycle;

/// <summary>A pod as the runtime described it.</summary>
internal sealed record PodRecord(
    string Id,
    string Name,
    string Namespace,
    string Uid,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations);

/// <summary>A container as the runtime described it and, once it has started, its process and cgroup.</summary>
internal sealed record ContainerRecord(
    string Id,
    string PodId,
    string Name,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    ContainerPhase Phase,
    int Pid = 0,
    string? CgroupPath = null,
    ulong CgroupId = 0,
    SeccompFloor? Floor = null);

/// <summary>Where a container is in its lifecycle, as far as the plugin has seen.</summary>
internal enum ContainerPhase { Created, Started, Stopped }

/// <summary>
/// One container of the table: what the runtime said about it (identity, pod, pid, cgroup, phase) and its policy
/// (selection, overrides, loaded profile, binding outcome, reason); <see cref="Policy"/> is null until it is selected.
/// </summary>
internal sealed record ContainerEntry(ContainerRecord Container, ContainerPolicy? Policy)
{
    public string Id => Container.Id;
}

/// <summary>A consistent copy of the table, taken under its lock, for views (ps, metrics).</summary>
internal sealed record ContainerTableSnapshot(IReadOnlyDictionary<string, PodRecord> Pods, IReadOnlyList<ContainerEntry> Entries)
{
    public PodRecord? PodOf(ContainerEntry entry) => Pods.GetValueOrDefault(entry.Container.PodId);
}

/// <summary>
/// The one owner of container state (ARCHITECTURE.md, "The daemon core"): every pod and container the runtime told the
/// plugin about, each container with its policy, under one lock. Which container owns a bound cgroup is an index kept by
/// <see cref="Put"/> and <see cref="Remove"/> from the entries themselves, never written by anyone else; the engine's
/// bindings are checked against the table (<see cref="PolicyController.Reconcile"/>), never kept as a second truth.
/// </summary>
/// <remarks>
/// Members marked "under the lock" expect the caller (<see cref="PolicyController"/>) to hold <see cref="Enter"/>'s
/// scope, so that reading an entry, asking the engine and writing the outcome back is one step. The other members take
/// the lock themselves for one short, O(1) step, except the snapshots, which copy.
/// </remarks>
internal sealed class ContainerTable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PodRecord> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ContainerEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, string> _ownerOfBoundCgroup = [];

    /// <summary>Takes the table's lock; re-entrant.</summary>
    public Lock.Scope Enter() => _lock.EnterScope();

    public bool IsHeldByCurrentThread => _lock.IsHeldByCurrentThread;

    // ---- one-step operations (take the lock themselves) ----

    public void UpsertPod(PodRecord pod)
    {
        using (_lock.EnterScope())
            _pods[pod.Id] = pod;
    }

    public PodRecord? FindPod(string podId)
    {
        using (_lock.EnterScope())
            return _pods.GetValueOrDefault(podId);
    }

    /// <summary>The pods of that namespace and name (the runtime may still have an older pod of the same name).</summary>
    public IReadOnlyList<PodRecord> PodsNamed(string @namespace, string name)
    {
        using (_lock.EnterScope())
            return _pods.Values.Where(p => p.Namespace == @namespace && p.Name == name).ToList();
    }

    public ContainerEntry? Find(string containerId)
    {
        using (_lock.EnterScope())
            return _entries.GetValueOrDefault(containerId);
    }

    /// <summary>The container's runtime record, when it is listed.</summary>
    public ContainerRecord? FindContainer(string containerId) => Find(containerId)?.Container;

    /// <summary>
    /// Records what the runtime says about a container, keeping its policy: a new container gets an entry without one
    /// (selected later), a listed one gets the new record (phase, pid, cgroup).
    /// </summary>
    public void UpsertContainer(ContainerRecord container)
    {
        using (_lock.EnterScope())
            Put(new ContainerEntry(container, _entries.GetValueOrDefault(container.Id)?.Policy));
    }

    /// <summary>Updates the record of a listed container only: a container dropped on purpose (vetoed) stays dropped.</summary>
    public bool UpdateListedContainer(ContainerRecord container)
    {
        using (_lock.EnterScope())
        {
            if (!_entries.TryGetValue(container.Id, out var entry))
                return false;
            Put(entry with { Container = container });
            return true;
        }
    }

    /// <summary>Forgets the pod and any container of it that is still listed.</summary>
    public void RemovePod(string podId)
    {
        using (_lock.EnterScope())
        {
            _pods.Remove(podId);
            foreach (var entry in _entries.Values.Where(e => e.Container.PodId == podId).ToList())
                Remove(entry.Id);
        }
    }

    /// <summary>
    /// Replaces the runtime's view with <paramref name="pods"/> and <paramref name="containers"/> (after Synchronize).
    /// A container still listed keeps its policy; one no longer listed leaves the table, and its binding, if any, is
    /// found stale at <see cref="PolicyController.Reconcile"/>.
    /// </summary>
    public void ReplaceAll(IEnumerable<PodRecord> pods, IEnumerable<ContainerRecord> containers)
    {
        using (_lock.EnterScope())
        {
            var previous = _entries.Values.ToDictionary(e => e.Id, StringComparer.Ordinal);
            _pods.Clear();
            _entries.Clear();
            _ownerOfBoundCgroup.Clear();
            foreach (var pod in pods)
                _pods[pod.Id] = pod;
            foreach (var container in containers)
                Put(new ContainerEntry(container, previous.GetValueOrDefault(container.Id)?.Policy));
        }
    }

    /// <summary>The container whose binding is on <paramref name="cgroupId"/>, with its pod, for naming events.</summary>
    public (ContainerEntry Entry, PodRecord? Pod)? OwnerOfCgroup(ulong cgroupId)
    {
        using (_lock.EnterScope())
        {
            if (!_ownerOfBoundCgroup.TryGetValue(cgroupId, out var id) || !_entries.TryGetValue(id, out var entry))
                return null;
            return (entry, _pods.GetValueOrDefault(entry.Container.PodId));
        }
    }

    /// <summary>A copy of every pod and entry, consistent with each other.</summary>
    public ContainerTableSnapshot Snapshot()
    {
        using (_lock.EnterScope())
            return new ContainerTableSnapshot(new Dictionary<string, PodRecord>(_pods, StringComparer.Ordinal), _entries.Values.ToList());
    }

    // ---- under the lock ----

    /// <summary>The entries, live (under the lock): callers that change entries while iterating copy first.</summary>
    public IEnumerable<ContainerEntry> EntriesLocked
    {
        get
        {
            AssertHeld();
            return _entries.Values;
        }
    }

    public IEnumerable<PodRecord> PodsLocked
    {
        get
        {
            AssertHeld();
            return _pods.Values;
        }
    }

    public void PutPodLocked(PodRecord pod)
    {
        AssertHeld();
        _pods[pod.Id] = pod;
    }

    /// <summary>Writes an entry (under the lock) and keeps the bound-cgroup index in step with it.</summary>
    public void Put(ContainerEntry entry)
    {
        AssertHeld();
        if (_entries.TryGetValue(entry.Id, out var old) && old.Policy?.BoundCgroupId is { } was and not 0
            && was != entry.Policy?.BoundCgroupId && _ownerOfBoundCgroup.GetValueOrDefault(was) == entry.Id)
            _ownerOfBoundCgroup.Remove(was);
        _entries[entry.Id] = entry;
        if (entry.Policy?.BoundCgroupId is { } bound and not 0)
            _ownerOfBoundCgroup[bound] = entry.Id;
    }

    /// <summary>Removes an entry (under the lock), and its cgroup from the index.</summary>
    public ContainerEntry? Remove(string containerId)
    {
        AssertHeld();
        if (!_entries.Remove(containerId, out var old))
            return null;
        if (old.Policy?.BoundCgroupId is { } was and not 0 && _ownerOfBoundCgroup.GetValueOrDefault(was) == containerId)
            _ownerOfBoundCgroup.Remove(was);
        return old;
    }

    private void AssertHeld()
    {
        if (!_lock.IsHeldByCurrentThread)
            throw new InvalidOperationException("the container table's lock is not held");
    }
}
