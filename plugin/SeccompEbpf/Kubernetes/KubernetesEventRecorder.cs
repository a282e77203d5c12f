using System.Collections.Concurrent;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.Kubernetes;

/// <summary>The object an Event is about (a v1 Pod, ConfigMap or Node); the client's own type is built only to post.</summary>
internal sealed record InvolvedObject(string Kind, string? Namespace, string Name, string? Uid);

/// <summary>An Event to post: on which object, Normal or Warning, why, and what happened.</summary>
internal sealed record PendingEvent(InvolvedObject InvolvedObject, string Type, string Reason, string Message);

/// <summary>
/// Posts Kubernetes Events from a bounded background queue: <see cref="Post"/> never blocks and never throws, so
/// enforcement never waits for the API server. At most kubernetes.eventsPerMinute are posted; an identical event
/// (same object, reason and message) within a minute is folded; the rest are dropped and counted.
/// </summary>
internal sealed partial class KubernetesEventRecorder : BackgroundService
{
    private const int QueueCapacity = 512;
    private const int RememberedEvents = 1024;
    private static readonly TimeSpan FoldWindow = TimeSpan.FromMinutes(1);
    private readonly KubernetesConnection _connection;
    private readonly ILogger<KubernetesEventRecorder> _logger;
    private readonly Channel<PendingEvent> _queue = Channel.CreateBounded<PendingEvent>(new BoundedChannelOptions(QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
    private readonly ConcurrentDictionary<(string Object, string Reason, string Message), DateTime> _recent = new();
    private readonly int _perMinute;
    private readonly Queue<DateTime> _posted = new();
    private long _postedCount, _droppedCount, _foldedCount, _failedCount;

    public KubernetesEventRecorder(KubernetesConnection connection, DaemonOptions options, ILogger<KubernetesEventRecorder> logger)
    {
        _connection = connection;
        _logger = logger;
        _perMinute = options.Kubernetes.EventsPerMinute;
        Enabled = connection.Server is not null && options.Kubernetes.Events;
    }

    public bool Enabled { get; }

    public long Posted => Interlocked.Read(ref _postedCount);
    public long Dropped => Interlocked.Read(ref _droppedCount);
    public long Folded => Interlocked.Read(ref _foldedCount);
    public long Failed => Interlocked.Read(ref _failedCount);

    /// <summary>An object reference for a pod (uid may be empty when unknown).</summary>
    public static InvolvedObject Pod(string @namespace, string name, string? uid) => new("Pod", @namespace, name, string.IsNullOrEmpty(uid) ? null : uid);

    public static InvolvedObject ConfigMap(string @namespace, string name, string? uid) => new("ConfigMap", @namespace, name, string.IsNullOrEmpty(uid) ? null : uid);

    public static InvolvedObject Node(string name) => new("Node", null, name, null);

    public void Post(InvolvedObject involved, string type, string reason, string message)
    {
        if (!Enabled)
            return;
        if (message.Length > 1024)
            message = message[..1021] + "...";
        var key = ($"{involved.Kind}/{involved.Namespace}/{involved.Name}/{involved.Uid}", reason, message);
        var now = DateTime.UtcNow;
        if (_recent.TryGetValue(key, out var last) && now - last < FoldWindow)
        {
            Interlocked.Increment(ref _foldedCount);
            return;
        }
        _recent[key] = now;
        if (_recent.Count > RememberedEvents)
        {
            foreach (var old in _recent.Where(kv => now - kv.Value >= FoldWindow).Select(kv => kv.Key).ToList())
                _recent.TryRemove(old, out _);
        }
        if (!_queue.Writer.TryWrite(new PendingEvent(involved, type, reason, message)))
            Interlocked.Increment(ref _droppedCount);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
            return;
        try
        {
            await foreach (var pending in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = DateTime.UtcNow;
                while (_posted.Count > 0 && now - _posted.Peek() >= TimeSpan.FromMinutes(1))
                    _posted.Dequeue();
                if (_posted.Count >= _perMinute)
                {
                    Interlocked.Increment(ref _droppedCount);
                    LogRateLimited(pending.Reason, pending.InvolvedObject.Kind, pending.InvolvedObject.Namespace, pending.InvolvedObject.Name);
                    continue;
                }
                _posted.Enqueue(now);
                await SendAsync(pending, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(PendingEvent pending, CancellationToken ct)
    {
        var node = _connection.NodeName ?? Environment.MachineName;
        // Node events live in "default", as kubelet's do.
        var involved = pending.InvolvedObject;
        var ns = involved.Namespace ?? "default";
        var now = DateTime.UtcNow;
        var body = new Corev1Event
        {
            Metadata = new V1ObjectMeta { GenerateName = $"{pending.InvolvedObject.Name}.", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference { ApiVersion = "v1", Kind = involved.Kind, NamespaceProperty = involved.Namespace, Name = involved.Name, Uid = involved.Uid },
            Type = pending.Type,
            Reason = pending.Reason,
            Message = pending.Message,
            Source = new V1EventSource { Component = "seccomp-ebpf", Host = node },
            ReportingComponent = "seccomp-ebpf.io/daemon",
            ReportingInstance = node,
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await _connection.Client!.CoreV1.CreateNamespacedEventAsync(body, ns, cancellationToken: timeout.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _postedCount);
            LogPosted(pending.Reason, pending.InvolvedObject.Kind, ns, pending.InvolvedObject.Name, pending.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failedCount);
            LogPostFailed(pending.Reason, pending.InvolvedObject.Kind, ns, pending.InvolvedObject.Name, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event {Reason} on {Kind} {Namespace}/{Name}: {EventMessage}")]
    private partial void LogPosted(string reason, string kind, string @namespace, string name, string eventMessage);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {Reason} on {Kind} {Namespace}/{Name} not posted: {Problem}")]
    private partial void LogPostFailed(string reason, string kind, string @namespace, string name, string problem);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Event {Reason} on {Kind} {Namespace}/{Name} dropped: rate limit")]
    private partial void LogRateLimited(string reason, string kind, string? @namespace, string name);
}
