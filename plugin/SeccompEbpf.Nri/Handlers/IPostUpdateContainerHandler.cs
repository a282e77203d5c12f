using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container's resources were updated; errors are only logged by the runtime.</summary>
public interface IPostUpdateContainerHandler
{
    /// <summary>A container's resources were updated; errors are only logged by the runtime.</summary>
    ValueTask PostUpdateContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
