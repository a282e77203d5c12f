using System.Collections.Concurrent;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Kubernetes;

/// <summary>
/// Watches the ConfigMaps labelled <c>seccomp-ebpf.io/profiles=true</c> in the daemon's namespace and hands their
/// keys to the profile store as <c>configmap/NAME</c> profiles (same validation and live rebinding as files).
/// The first list is awaited (bounded) before NRI connects, so containers created at start find their profiles.
/// </summary>
internal sealed partial class ConfigMapProfileWatcher : BackgroundService, IListWatchTarget<V1ConfigMap, V1ConfigMapList>
{
    public const string ProfilesLabel = "seccomp-ebpf.io/profiles";
    private readonly KubernetesConnection _connection;
    private readonly DaemonOptions _options;
    private readonly ProfileStore _profiles;
    private readonly ILogger<ConfigMapProfileWatcher> _logger;
    private readonly bool _preinstalled;
    private readonly ConcurrentDictionary<string, V1ConfigMap> _configMaps = new(StringComparer.Ordinal);
    private readonly Lock _publishLock = new();
    private ListWatch<V1ConfigMap, V1ConfigMapList>? _listWatch;

    public ConfigMapProfileWatcher(KubernetesConnection connection, DaemonOptions options, ProfileStore profiles, NriPluginOptions nri, ILogger<ConfigMapProfileWatcher> logger)
    {
        _preinstalled = nri.InheritedSocketFd is not null;
        _connection = connection;
        _options = options;
        _profiles = profiles;
        _logger = logger;
    }

    public string Describe => $"profile ConfigMaps in namespace {_connection.Namespace}";

    private bool Active => _connection.Client is not null && _options.Kubernetes.ConfigMapProfiles;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Active)
            _listWatch = new ListWatch<V1ConfigMap, V1ConfigMapList>(this, _logger);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
        if (_listWatch is null)
            return;
        // containerd gives a pre-installed plugin 5 s to register (and exits otherwise): never hold that up.
        var timeout = TimeSpan.FromSeconds(_preinstalled ? Math.Min(1, _options.Kubernetes.InitialSyncTimeoutSeconds) : _options.Kubernetes.InitialSyncTimeoutSeconds);
        if (await Task.WhenAny(_listWatch.FirstList, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false) != _listWatch.FirstList)
            LogInitialSyncLate((int)timeout.TotalSeconds);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _listWatch?.RunAsync(stoppingToken) ?? Task.CompletedTask;

    public Task<V1ConfigMapList> ListAsync(CancellationToken ct) =>
        _connection.Client!.CoreV1.ListNamespacedConfigMapAsync(_connection.Namespace, labelSelector: $"{ProfilesLabel}=true", cancellationToken: ct);

    public IAsyncEnumerable<(WatchEventType, V1ConfigMap)> WatchAsync(string resourceVersion, Action<Exception> onError, CancellationToken ct) =>
        _connection.Client!.CoreV1.WatchListNamespacedConfigMapAsync(
            _connection.Namespace, allowWatchBookmarks: true, labelSelector: $"{ProfilesLabel}=true", resourceVersion: resourceVersion,
            timeoutSeconds: _options.Kubernetes.WatchTimeoutSeconds, onError: onError, cancellationToken: ct);

    public void Replace(IReadOnlyList<V1ConfigMap> items)
    {
        _configMaps.Clear();
        foreach (var item in items)
        {
            if (item.Metadata?.Name is { } name)
                _configMaps[name] = item;
        }
        Publish();
    }

    public void Apply(WatchEventType type, V1ConfigMap item)
    {
        if (item.Metadata?.Name is not { } name)
            return;
        if (type == WatchEventType.Deleted)
            _configMaps.TryRemove(name, out _);
        else
            _configMaps[name] = item;
        Publish();
    }

    private void Publish()
    {
        lock (_publishLock)
        {
            var sources = _configMaps.Values.SelectMany(cm => (cm.Data ?? new Dictionary<string, string>()).Select(kv =>
                new ConfigMapProfileSource(ConfigMapProfileSources.ProfileNameOfKey(kv.Key), _connection.Namespace, cm.Metadata.Name, cm.Metadata.Uid, kv.Key, kv.Value))).ToList();
            LogPublished(sources.Count, _configMaps.Count);
            try
            {
                _profiles.ReplaceConfigMapProfiles(_connection.Namespace, sources);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogPublishFailed(e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ConfigMap profiles: {Profiles} keys in {ConfigMaps} ConfigMaps")]
    private partial void LogPublished(int profiles, int configMaps);

    [LoggerMessage(Level = LogLevel.Error, Message = "Applying the ConfigMap profiles failed: {Problem}")]
    private partial void LogPublishFailed(string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The profile ConfigMaps were not listed within {Seconds} s; starting without them (they apply when they arrive)")]
    private partial void LogInitialSyncLate(int seconds);
}
