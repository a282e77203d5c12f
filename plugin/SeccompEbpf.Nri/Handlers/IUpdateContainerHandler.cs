using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container's resources are being updated; the reply may update containers or evict; throwing fails the update.</summary>
public interface IUpdateContainerHandler
{
    /// <summary>A container's resources are being updated; the reply may update containers or evict; throwing fails the update.</summary>
    ValueTask<UpdateContainerResponse> UpdateContainerAsync(PodSandbox pod, Container container, LinuxResources? resources, CancellationToken ct);
}
