using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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
        // The watchers' types name KubernetesClient's models, so building one loads that assembly: without an API
        // server (a plain containerd host) they are never built.
        services.AddSingleton<IHostedService>(sp => WithClient(sp) ? NewConfigMapWatcher(sp) : new Idle());
        services.AddSingleton<IHostedService>(sp => WithClient(sp) ? NewPodWatcher(sp) : new Idle());
        services.AddHostedService<MetricsServer>();
        return services;
    }

    private static bool WithClient(IServiceProvider services) => services.GetRequiredService<KubernetesConnection>().Server is not null;

    // Not inlined, and not generic over the watcher: the method that names a watcher type is compiled only when called.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IHostedService NewConfigMapWatcher(IServiceProvider services) => ActivatorUtilities.CreateInstance<ConfigMapProfileWatcher>(services);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IHostedService NewPodWatcher(IServiceProvider services) => ActivatorUtilities.CreateInstance<PodAnnotationWatcher>(services);

    /// <summary>Stands in for a watcher that has nothing to watch.</summary>
    private sealed class Idle : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
