using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A pod sandbox was stopped; errors are only logged by the runtime.</summary>
public interface IStopPodSandboxHandler
{
    /// <summary>A pod sandbox was stopped; errors are only logged by the runtime.</summary>
    ValueTask StopPodSandboxAsync(PodSandbox pod, CancellationToken ct);
}
