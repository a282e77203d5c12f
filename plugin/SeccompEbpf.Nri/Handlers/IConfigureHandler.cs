using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>Receives the runtime's identity and the raw plugin configuration (empty for external plugins). Throwing fails Configure, and the runtime drops the plugin.</summary>
public interface IConfigureHandler
{
    /// <summary>Receives the runtime's identity and the raw plugin configuration (empty for external plugins). Throwing fails Configure, and the runtime drops the plugin.</summary>
    ValueTask ConfigureAsync(NriRuntimeInfo runtime, string config, CancellationToken ct);
}
