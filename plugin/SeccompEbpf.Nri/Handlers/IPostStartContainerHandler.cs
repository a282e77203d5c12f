using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container started; errors are only logged by the runtime.</summary>
public interface IPostStartContainerHandler
{
    /// <summary>A container started; errors are only logged by the runtime.</summary>
    ValueTask PostStartContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
