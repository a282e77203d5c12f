using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>A container is about to start; its init PID is known, the workload has not run yet; throwing fails the start.</summary>
public interface IStartContainerHandler
{
    /// <summary>A container is about to start; its init PID is known, the workload has not run yet; throwing fails the start.</summary>
    ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct);
}
