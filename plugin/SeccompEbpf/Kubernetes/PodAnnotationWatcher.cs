using System.Collections.Concurrent;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;

namespace SeccompEbpf.Kubernetes;

/// <summary>
/// Watches the pods of this node (spec.nodeName) and re-selects the containers of a pod whose policy annotations
/// changed, through <see cref="PolicyController.Reselect"/>. Only each pod's uid and policy annotations are kept, so
/// memory is bounded by the node's pod count. A Kubernetes pod is the runtime's pod with the same namespace and name
/// (and uid, when both know it).
/// </summary>
internal sealed partial class PodAnnotationWatcher : BackgroundService, IListWatchTarget<V1Pod, V1PodList>
{
    private static readonly TimeSpan ReconcileInterval = TimeSpan.FromSeconds(2);
    private readonly KubernetesConnection _connection;
    private readonly DaemonOptions _options;
    private readonly PolicyController _policies;
    private readonly ContainerTable _table;
    private readonly ILogger<PodAnnotationWatcher> _logger;
    private readonly ConcurrentDictionary<(string Namespace, string Name), (string Uid, Dictionary<string, string> Annotations)> _pods = new();
    private readonly Lock _reconcileLock = new();

    public PodAnnotationWatcher(KubernetesConnection connection, DaemonOptions options, PolicyController policies, ContainerTable table, ILogger<PodAnnotationWatcher> logger)
    {
        _connection = connection;
        _options = options;
        _policies = policies;
        _table = table;
        _logger = logger;
    }

    public string Describe => $"pods on node {_connection.NodeName}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_connection.Client is null || _connection.PodWatchOff || !_options.Kubernetes.WatchPods)
        {
            if (_connection.Client is not null)
                LogPodWatchOff(_connection.PodWatchOff ? _connection.OffReason ?? "" : "kubernetes.watchPods is false");
            return;
        }
        var listWatch = new ListWatch<V1Pod, V1PodList>(this, _logger);
        // Pods appear in the runtime (NRI) and in the API in either order: compare the two now and then.
        using var timer = new PeriodicTimer(ReconcileInterval);
        var reconciling = Task.Run(async () =>
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                ReconcileAll();
        }, stoppingToken);
        await listWatch.RunAsync(stoppingToken).ConfigureAwait(false);
        try
        {
            await reconciling.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public Task<V1PodList> ListAsync(CancellationToken ct) =>
        _connection.Client!.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: FieldSelector, cancellationToken: ct);

    public IAsyncEnumerable<(WatchEventType, V1Pod)> WatchAsync(string resourceVersion, Action<Exception> onError, CancellationToken ct) =>
        _connection.Client!.CoreV1.WatchListPodForAllNamespacesAsync(
            allowWatchBookmarks: true, fieldSelector: FieldSelector, resourceVersion: resourceVersion,
            timeoutSeconds: _options.Kubernetes.WatchTimeoutSeconds, onError: onError, cancellationToken: ct);

    private string FieldSelector => $"spec.nodeName={_connection.NodeName}";

    public void Replace(IReadOnlyList<V1Pod> items)
    {
        var seen = new HashSet<(string, string)>();
        foreach (var pod in items)
        {
            if (Remember(pod) is { } key)
                seen.Add(key);
        }
        foreach (var gone in _pods.Keys.Where(k => !seen.Contains(k)).ToList())
            Forget(gone);
        ReconcileAll();
    }

    public void Apply(WatchEventType type, V1Pod item)
    {
        if (type == WatchEventType.Deleted)
        {
            if (item.Metadata?.NamespaceProperty is { } ns && item.Metadata.Name is { } name)
                Forget((ns, name));
            return;
        }
        if (Remember(item) is { } key)
            Reconcile(key);
    }

    private (string, string)? Remember(V1Pod pod)
    {
        if (pod.Metadata?.NamespaceProperty is not { } ns || pod.Metadata.Name is not { } name)
            return null;
        var annotations = PolicyAnnotations.PolicyAnnotationsOf(pod.Metadata.Annotations?.ToDictionary() ?? []);
        var uid = pod.Metadata.Uid ?? "";
        _pods[(ns, name)] = (uid, annotations);
        _policies.SetLiveAnnotations(ns, name, uid, annotations);
        return (ns, name);
    }

    private void Forget((string Namespace, string Name) key)
    {
        _pods.TryRemove(key, out _);
        _policies.ForgetLiveAnnotations(key.Namespace, key.Name);
    }

    private void ReconcileAll()
    {
        foreach (var key in _pods.Keys)
            Reconcile(key);
    }

    private void Reconcile((string Namespace, string Name) key)
    {
        lock (_reconcileLock)
        {
            if (!_pods.TryGetValue(key, out var live))
                return;
            foreach (var pod in _table.PodsNamed(key.Namespace, key.Name))
            {
                if (live.Uid.Length > 0 && pod.Uid.Length > 0 && live.Uid != pod.Uid)
                    continue; // a pod of the same name that the runtime still has from before
                if (PolicyAnnotations.SamePolicyAnnotations(pod.Annotations, live.Annotations))
                    continue;
                try
                {
                    var changed = _policies.Reselect(key.Namespace, key.Name, live.Uid, live.Annotations);
                    LogAnnotationsChanged(key.Namespace, key.Name, string.Join(", ", live.Annotations.Select(a => $"{a.Key}={a.Value}")), changed.Count);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The periodic reconcile tries again; the watch itself must go on.
                    LogReselectFailed(key.Namespace, key.Name, e.Message);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pod {Namespace}/{Pod}: policy annotations now [{Annotations}]; {Changed} containers re-selected")]
    private partial void LogAnnotationsChanged(string @namespace, string pod, string annotations, int changed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pod {Namespace}/{Pod}: re-selecting after an annotation change failed (retried): {Problem}")]
    private partial void LogReselectFailed(string @namespace, string pod, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pod watch off: {Reason}")]
    private partial void LogPodWatchOff(string reason);
}
