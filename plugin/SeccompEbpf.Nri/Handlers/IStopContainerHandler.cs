using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container is stopping (on request or exit); the reply may update other containers.</summary>
public interface IStopContainerHandler
{
    /// <summary>A container is stopping (on request or exit); the reply may update other containers.</summary>
    ValueTask<StopContainerResponse> StopContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
