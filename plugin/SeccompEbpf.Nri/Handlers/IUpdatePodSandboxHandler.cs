using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A pod sandbox's resources are being updated (NRI 0.10 and later runtimes only).</summary>
public interface IUpdatePodSandboxHandler
{
    /// <summary>A pod sandbox's resources are being updated (NRI 0.10 and later runtimes only).</summary>
    ValueTask UpdatePodSandboxAsync(PodSandbox pod, LinuxResources? overheadResources, LinuxResources? resources, CancellationToken ct);
}
