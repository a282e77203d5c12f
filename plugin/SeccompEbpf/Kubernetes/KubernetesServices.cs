using Microsoft.Extensions.DependencyInjection;

namespace SeccompEbpf.Kubernetes;

/// <summary>Registers the Kubernetes integration and the metrics endpoint with the daemon's host.</summary>
internal static class KubernetesServices
{
    /// <summary>
    /// Call before the NRI service is registered: hosted services start in order, and the ConfigMap profiles' first
    /// list should be in before NRI delivers containers that reference them.
    /// </summary>
    public static IServiceCollection AddKubernetesIntegration(this IServiceCollection services)
    {
        services.AddSingleton<KubernetesConnection>();
        services.AddSingleton<NriHandlerLatency>();
        services.AddSingleton<KubernetesEventRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<KubernetesEventRecorder>());
        services.AddHostedService<KubernetesPolicyEvents>();
        services.AddHostedService<ConfigMapProfileWatcher>();
        services.AddHostedService<PodAnnotationWatcher>();
        services.AddHostedService<MetricsServer>();
        return services;
    }
}
