using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A pod sandbox is starting; throwing fails RunPodSandbox.</summary>
public interface IRunPodSandboxHandler
{
    /// <summary>A pod sandbox is starting; throwing fails RunPodSandbox.</summary>
    ValueTask RunPodSandboxAsync(PodSandbox pod, CancellationToken ct);
}
