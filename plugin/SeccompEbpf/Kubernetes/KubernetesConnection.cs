using System.Runtime.CompilerServices;
using k8s;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.Kubernetes;

/// <summary>
/// The daemon's Kubernetes API client, or the reason there is none. Without credentials (no in-cluster service
/// account, no kubeconfig) the daemon runs exactly as on a plain containerd host and says so once.
/// </summary>
internal sealed partial class KubernetesConnection : IDisposable
{
    public const string ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    public KubernetesConnection(DaemonOptions options, IHostApplicationLifetime lifetime, ILogger<KubernetesConnection> logger)
    {
        var section = options.Kubernetes;
        NodeName = section.NodeName ?? NonEmpty(Environment.GetEnvironmentVariable("NODE_NAME"));
        Namespace = section.Namespace ?? NonEmpty(Environment.GetEnvironmentVariable("POD_NAMESPACE"))
            ?? (File.Exists(ServiceAccountNamespaceFile) ? NonEmpty(File.ReadAllText(ServiceAccountNamespaceFile).Trim()) : null)
            ?? "seccomp-ebpf";
        if (section.Activation == KubernetesActivation.Off)
        {
            OffReason = "kubernetes.enabled is false";
        }
        // Without credentials the KubernetesClient assembly is never loaded: it costs a plain containerd host tens of
        // milliseconds of start-up and megabytes of memory for nothing.
        else if (section.Kubeconfig is null && !InClusterCredentialsPresent())
        {
            OffReason = "no in-cluster service account and no kubernetes.kubeconfig";
        }
        else
        {
            OffReason = Connect(section.Kubeconfig);
        }
        if (Server is not null && NodeName is null && section.WatchPods)
        {
            OffReason = "the node name is unknown (set kubernetes.nodeName or $NODE_NAME); pods are not watched";
            PodWatchOff = true;
        }
        if (section.Activation == KubernetesActivation.On && Server is null)
        {
            // Asked for explicitly: a node silently running without its Kubernetes side would be worse than a restart loop.
            LogRequiredButOff(logger, OffReason ?? "unknown");
            Environment.ExitCode = 2;
            lifetime.StopApplication();
        }
        else if (Server is null)
            LogOff(logger, OffReason ?? "unknown");
        else
            LogOn(logger, Server ?? "?", NodeName ?? "(unknown)", Namespace);
    }

    /// <summary>The API client; null when the integration is off.</summary>
    public IKubernetes? Client { get; private set; }

    /// <summary>The API server's address; null exactly when <see cref="Client"/> is.</summary>
    public string? Server { get; private set; }

    public string? NodeName { get; }

    /// <summary>Namespace of the profile ConfigMaps.</summary>
    public string Namespace { get; }

    public string? OffReason { get; }

    /// <summary>True when a client exists but pods cannot be watched (no node name).</summary>
    public bool PodWatchOff { get; }

    public void Dispose()
    {
        if (Server is not null)
            DisposeClient();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DisposeClient() => Client?.Dispose();

    /// <summary>What KubernetesClientConfiguration.IsInCluster looks for, without loading the client.</summary>
    private static bool InClusterCredentialsPresent()
        => NonEmpty(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST")) is not null
            && NonEmpty(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_PORT")) is not null
            && File.Exists(ServiceAccountTokenFile);

    private const string ServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    // Only this method names the client's types (the constructor must not, or building it would load KubernetesClient).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private string? Connect(string? kubeconfig)
    {
        try
        {
            KubernetesClientConfiguration? config = kubeconfig is not null
                ? KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig)
                : KubernetesClientConfiguration.IsInCluster() ? KubernetesClientConfiguration.InClusterConfig() : null;
            if (config is null)
                return "the in-cluster service account is incomplete";
            // Watches stay open for minutes; the per-request timeout is the server's (timeoutSeconds).
            config.HttpClientTimeout = Timeout.InfiniteTimeSpan;
            Client = new k8s.Kubernetes(config);
            Server = config.Host;
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"the Kubernetes client configuration could not be loaded: {e.Message}";
        }
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes integration off (pod watch, ConfigMap profiles and Events): {Reason}")]
    private static partial void LogOff(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "kubernetes.enabled is true but the Kubernetes integration cannot start: {Reason}; stopping")]
    private static partial void LogRequiredButOff(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes API {Server}: node {Node}, profile ConfigMaps in namespace {Namespace}")]
    private static partial void LogOn(ILogger logger, string server, string node, string @namespace);
}
