using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container was removed; errors are only logged by the runtime.</summary>
public interface IRemoveContainerHandler
{
    /// <summary>A container was removed; errors are only logged by the runtime.</summary>
    ValueTask RemoveContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
