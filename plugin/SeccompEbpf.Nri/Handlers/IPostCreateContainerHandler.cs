using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container was created; errors are only logged by the runtime.</summary>
public interface IPostCreateContainerHandler
{
    /// <summary>A container was created; errors are only logged by the runtime.</summary>
    ValueTask PostCreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
