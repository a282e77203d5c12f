using System.Collections.Concurrent;

namespace SeccompEbpf.Lifecycle;

/// <summary>A pod as the runtime described it.</summary>
internal sealed record PodRecord(
    string Id,
    string Name,
    string Namespace,
    string Uid,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations);

/// <summary>A container and, once it has started, its process and cgroup.</summary>
internal sealed record ContainerRecord(
    string Id,
    string PodId,
    string Name,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    ContainerPhase Phase,
    int Pid = 0,
    string? CgroupPath = null,
    ulong CgroupId = 0);

/// <summary>Where a container is in its lifecycle, as far as the plugin has seen.</summary>
internal enum ContainerPhase { Created, Started, Stopped }

/// <summary>Every pod and container the runtime has told the plugin about; safe for concurrent use.</summary>
internal sealed class ContainerRegistry
{
    private readonly ConcurrentDictionary<string, PodRecord> _pods = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ContainerRecord> _containers = new(StringComparer.Ordinal);

    public IReadOnlyCollection<PodRecord> Pods => _pods.Values.ToArray();
    public IReadOnlyCollection<ContainerRecord> Containers => _containers.Values.ToArray();

    public void UpsertPod(PodRecord pod) => _pods[pod.Id] = pod;

    public PodRecord? FindPod(string podId) => _pods.GetValueOrDefault(podId);

    public ContainerRecord? FindContainer(string containerId) => _containers.GetValueOrDefault(containerId);

    public void UpsertContainer(ContainerRecord container) => _containers[container.Id] = container;

    public void RemoveContainer(string containerId) => _containers.TryRemove(containerId, out _);

    /// <summary>Forgets the pod and any container of it that is still listed.</summary>
    public void RemovePod(string podId)
    {
        _pods.TryRemove(podId, out _);
        foreach (var container in _containers.Values)
        {
            if (container.PodId == podId)
                _containers.TryRemove(container.Id, out _);
        }
    }

    /// <summary>Replaces everything with the runtime's view (after Synchronize).</summary>
    public void ReplaceAll(IEnumerable<PodRecord> pods, IEnumerable<ContainerRecord> containers)
    {
        _pods.Clear();
        _containers.Clear();
        foreach (var pod in pods)
            _pods[pod.Id] = pod;
        foreach (var container in containers)
            _containers[container.Id] = container;
    }
}
