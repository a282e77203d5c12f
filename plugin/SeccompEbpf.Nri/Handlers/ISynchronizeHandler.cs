using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>Receives every existing pod and container once after Configure (a split Synchronize is reassembled); may return updates.</summary>
public interface ISynchronizeHandler
{
    /// <summary>Receives every existing pod and container once after Configure (a split Synchronize is reassembled); may return updates.</summary>
    ValueTask<IReadOnlyList<ContainerUpdate>> SynchronizeAsync(IReadOnlyList<PodSandbox> pods, IReadOnlyList<Container> containers, CancellationToken ct);
}
