using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A pod sandbox was removed; errors are only logged by the runtime.</summary>
public interface IRemovePodSandboxHandler
{
    /// <summary>A pod sandbox was removed; errors are only logged by the runtime.</summary>
    ValueTask RemovePodSandboxAsync(PodSandbox pod, CancellationToken ct);
}
