using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A pod sandbox's resources were updated (NRI 0.10 and later runtimes only).</summary>
public interface IPostUpdatePodSandboxHandler
{
    /// <summary>A pod sandbox's resources were updated (NRI 0.10 and later runtimes only).</summary>
    ValueTask PostUpdatePodSandboxAsync(PodSandbox pod, CancellationToken ct);
}
