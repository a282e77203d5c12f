using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container is being created; the reply may adjust it, update others or evict; throwing fails creation.</summary>
public interface ICreateContainerHandler
{
    /// <summary>A container is being created; the reply may adjust it, update others or evict; throwing fails creation.</summary>
    ValueTask<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
