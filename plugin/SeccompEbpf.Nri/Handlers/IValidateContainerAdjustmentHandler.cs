using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>Validates the merged adjustment of all plugins (NRI 0.10 and later); implementing it makes the plugin a validator.</summary>
public interface IValidateContainerAdjustmentHandler
{
    /// <summary>Validates the merged adjustment of all plugins (NRI 0.10 and later); implementing it makes the plugin a validator.</summary>
    ValueTask<ValidateContainerAdjustmentResponse> ValidateContainerAdjustmentAsync(ValidateContainerAdjustmentRequest request, CancellationToken ct);
}
