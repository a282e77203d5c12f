namespace SeccompEbpf.Daemon;

/// <summary>Whether the daemon uses the Kubernetes API: <c>kubernetes.enabled</c> auto, true or false.</summary>
internal enum KubernetesActivation { Auto, On, Off }

/// <summary>What becomes of containers whose ConfigMap profile was removed: <c>kubernetes.onProfileRemoved</c> default or keep.</summary>
internal enum ProfileRemovedAction { FallBackToDefault, KeepLastVersion }

internal sealed partial class DaemonOptions
{
    public KubernetesSection Kubernetes { get; set; } = new();

    public MetricsSection Metrics { get; set; } = new();

    /// <summary>The Kubernetes API side: pod annotation watch, ConfigMap profiles, Events. Off without credentials.</summary>
    internal sealed class KubernetesSection
    {
        /// <summary>The spellings of <see cref="Enabled"/>, in any case: the JSON may say true or "true".</summary>
        public static readonly ConfigChoices<KubernetesActivation> EnabledChoices = new("kubernetes.enabled", ignoreCase: true,
            ("auto", KubernetesActivation.Auto), ("true", KubernetesActivation.On), ("false", KubernetesActivation.Off));

        /// <summary>auto (default: on when in-cluster credentials or <see cref="Kubeconfig"/> exist), true, or false.</summary>
        public string Enabled { get; set; } = "auto";

        /// <summary><see cref="Enabled"/> parsed; valid once <see cref="Validate"/> found no problem.</summary>
        public KubernetesActivation Activation => EnabledChoices.Parse(Enabled);

        /// <summary>Path of a kubeconfig file; null uses the in-cluster service account.</summary>
        public string? Kubeconfig { get; set; }

        /// <summary>This node's name (pods are watched with spec.nodeName=NAME); null reads $NODE_NAME.</summary>
        public string? NodeName { get; set; }

        /// <summary>Namespace holding the profile ConfigMaps; null reads $POD_NAMESPACE, then the service account's namespace.</summary>
        public string? Namespace { get; set; }

        /// <summary>Re-select running containers when their pod's seccomp-ebpf.io annotations change.</summary>
        public bool WatchPods { get; set; } = true;

        /// <summary>Serve ConfigMaps labelled seccomp-ebpf.io/profiles=true as <c>configmap/NAME</c> profiles.</summary>
        public bool ConfigMapProfiles { get; set; } = true;

        public static readonly ConfigChoices<ProfileRemovedAction> OnProfileRemovedChoices = new("kubernetes.onProfileRemoved", ignoreCase: false,
            ("default", ProfileRemovedAction.FallBackToDefault), ("keep", ProfileRemovedAction.KeepLastVersion));

        /// <summary>default: containers using a removed ConfigMap profile fall back to policy.defaultProfile (unmanaged when unset); keep: the last version stays bound.</summary>
        public string OnProfileRemoved { get; set; } = "default";

        /// <summary><see cref="OnProfileRemoved"/> parsed; valid once <see cref="Validate"/> found no problem.</summary>
        public ProfileRemovedAction ProfileRemoved => OnProfileRemovedChoices.Parse(OnProfileRemoved);

        /// <summary>Post Kubernetes Events on pods (vetoes, profile changes, degraded enforcement).</summary>
        public bool Events { get; set; } = true;

        /// <summary>Events posted per minute at most; the rest are dropped (counted) and identical ones within a minute are folded.</summary>
        public int EventsPerMinute { get; set; } = 120;

        /// <summary>Server-side timeout of one watch request; the watch is then resumed from its last resourceVersion.</summary>
        public int WatchTimeoutSeconds { get; set; } = 300;

        /// <summary>How long the daemon waits for the first ConfigMap list before it connects to NRI.</summary>
        public int InitialSyncTimeoutSeconds { get; set; } = 10;
    }

    /// <summary>Prometheus metrics and health endpoints (plain HTTP).</summary>
    internal sealed class MetricsSection
    {
        /// <summary>Serve /metrics, /healthz and /readyz. Off by default on a host install.</summary>
        public bool Enabled { get; set; }

        /// <summary>Address to listen on: 127.0.0.1 (default), 0.0.0.0 for all addresses, or another literal IP address.</summary>
        public string ListenAddress { get; set; } = "127.0.0.1";

        public int Port { get; set; } = 9464;
    }

    /// <summary>Problems with the kubernetes and metrics sections, each naming the key.</summary>
    public IEnumerable<string> ValidateKubernetesAndMetrics()
    {
        var k = Kubernetes;
        if (KubernetesSection.EnabledChoices.Check(k.Enabled) is { } enabledProblem)
            yield return enabledProblem;
        if (k.Kubeconfig is not null && !Path.IsPathRooted(k.Kubeconfig))
            yield return $"kubernetes.kubeconfig: \"{k.Kubeconfig}\" must be an absolute path";
        if (k.NodeName is not null && !IsDnsSubdomain(k.NodeName))
            yield return $"kubernetes.nodeName: \"{k.NodeName}\" is not a valid node name";
        if (k.Namespace is not null && !IsDnsLabel(k.Namespace))
            yield return $"kubernetes.namespace: \"{k.Namespace}\" is not a valid namespace name";
        if (KubernetesSection.OnProfileRemovedChoices.Check(k.OnProfileRemoved) is { } removedProblem)
            yield return removedProblem;
        if (k.EventsPerMinute is < 1 or > 10_000)
            yield return $"kubernetes.eventsPerMinute: {k.EventsPerMinute} must be between 1 and 10000";
        if (k.WatchTimeoutSeconds is < 1 or > 3600)
            yield return $"kubernetes.watchTimeoutSeconds: {k.WatchTimeoutSeconds} must be between 1 and 3600";
        if (k.InitialSyncTimeoutSeconds is < 0 or > 300)
            yield return $"kubernetes.initialSyncTimeoutSeconds: {k.InitialSyncTimeoutSeconds} must be between 0 and 300";
        if (!System.Net.IPAddress.TryParse(Metrics.ListenAddress, out _))
            yield return $"metrics.listenAddress: \"{Metrics.ListenAddress}\" must be a literal IP address (0.0.0.0 for all)";
        if (Metrics.Port is < 1 or > 65535)
            yield return $"metrics.port: {Metrics.Port} must be between 1 and 65535";
    }

    private static bool IsDnsLabel(string s) =>
        s.Length is > 0 and <= 63 && s.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') && s[0] != '-' && s[^1] != '-';

    private static bool IsDnsSubdomain(string s) => s.Length is > 0 and <= 253 && s.Split('.').All(IsDnsLabel);
}
