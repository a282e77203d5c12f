using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Kubernetes;

/// <summary>
/// Plain-HTTP endpoints when metrics.enabled: <c>/metrics</c> (Prometheus text format 0.0.4), <c>/healthz</c>
/// (liveness: the daemon serves; 200 always) and <c>/readyz</c> (readiness: registered with the runtime over NRI).
/// </summary>
internal sealed partial class MetricsServer : BackgroundService
{
    private readonly DaemonOptions _options;
    private readonly ContainerTable _table;
    private readonly EventPump _events;
    private readonly EngineHost _engine;
    private readonly NriHandlerLatency _latency;
    private readonly KubernetesEventRecorder _recorder;
    private readonly ILogger<MetricsServer> _logger;
    private volatile NriConnectionState? _nriState;

    public MetricsServer(DaemonOptions options, ContainerTable table, EventPump events, EngineHost engine,
        NriHandlerLatency latency, KubernetesEventRecorder recorder, NriPlugin plugin, ILogger<MetricsServer> logger)
    {
        _options = options;
        _table = table;
        _events = events;
        _engine = engine;
        _latency = latency;
        _recorder = recorder;
        _logger = logger;
        plugin.StateChanged += state => _nriState = state;
    }

    private bool Ready => _nriState is NriConnectionState.Registered or NriConnectionState.Synchronized;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Metrics.Enabled)
            return;
        var address = IPAddress.Parse(_options.Metrics.ListenAddress);
        var host = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? "+"
            : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://{host}:{_options.Metrics.Port}/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException e)
        {
            LogListenFailed(_options.Metrics.ListenAddress, _options.Metrics.Port, e.Message);
            return;
        }
        LogListening(_options.Metrics.ListenAddress, _options.Metrics.Port);
        using var stop = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(context), stoppingToken);
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var (status, contentType, body) = context.Request.Url?.AbsolutePath switch
            {
                "/metrics" => (200, "text/plain; version=0.0.4; charset=utf-8", Render()),
                "/healthz" => (200, "application/json", Health()),
                "/readyz" => (Ready ? 200 : 503, "application/json", Health()),
                _ => (404, "text/plain", "not found: /metrics, /healthz, /readyz\n"),
            };
            var bytes = Encoding.UTF8.GetBytes(body);
            response.StatusCode = status;
            response.ContentType = contentType;
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogServeFailed(context.Request.Url?.AbsolutePath ?? "?", e.Message);
            try
            {
                response.StatusCode = 500;
            }
            catch (InvalidOperationException)
            {
            }
        }
        finally
        {
            response.Close();
        }
    }

    private string Health() => JsonSerializer.Serialize(new
    {
        status = "serving",
        ready = Ready,
        nri = _nriState?.GetType().Name ?? "Starting",
        engine = _engine.Engine is null ? $"unavailable: {_engine.Failure}" : "ready",
    }) + "\n";

    /// <summary>The whole exposition, rendered on each scrape from the live counters.</summary>
    internal string Render()
    {
        var text = new StringBuilder();
        // One snapshot of the table per scrape: every family below counts the same containers.
        var snapshot = _table.Snapshot();
        var policies = snapshot.Entries.Select(e => e.Policy).OfType<ContainerPolicy>().ToList();

        Family(text, "seccomp_ebpf_decisions_total", "counter", "Syscall decisions reported per container (ring-buffer events), by action.");
        foreach (var entry in snapshot.Entries.OrderBy(e => e.Container.PodId, StringComparer.Ordinal).ThenBy(e => e.Container.Name, StringComparer.Ordinal))
        {
            var (container, pod) = (entry.Container, snapshot.PodOf(entry));
            foreach (var (action, count) in _events.DecisionsOf(container.Id).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                Sample(text, "seccomp_ebpf_decisions_total", count,
                    ("namespace", pod?.Namespace ?? ""), ("pod", pod?.Name ?? ""), ("container", container.Name), ("container_id", container.Id[..Math.Min(12, container.Id.Length)]), ("action", action));
            }
        }

        // read from the kernel's per-container counts (not the rate-limited event stream): exact however many there were
        Family(text, "seccomp_ebpf_shadow_denials_total", "counter", "Syscalls a container's shadow profile would have stopped so far (docs/shadow.md); reset when the shadow changes.");
        foreach (var entry in snapshot.Entries.OrderBy(e => e.Container.PodId, StringComparer.Ordinal).ThenBy(e => e.Container.Name, StringComparer.Ordinal))
        {
            if (entry.Policy is not { ShadowProfile: not null, BoundCgroupId: not 0 } shadowed || ReadShadow(shadowed.BoundCgroupId) is not { } shadow)
                continue;
            var (container, pod) = (entry.Container, snapshot.PodOf(entry));
            Sample(text, "seccomp_ebpf_shadow_denials_total", shadow.Denials,
                ("namespace", pod?.Namespace ?? ""), ("pod", pod?.Name ?? ""), ("container", container.Name), ("container_id", container.Id[..Math.Min(12, container.Id.Length)]), ("shadow", shadowed.ShadowReference ?? ""));
        }

        Family(text, "seccomp_ebpf_engine_available", "gauge", "1 when the BPF enforcement engine is loaded, 0 when nothing can be enforced.");
        Sample(text, "seccomp_ebpf_engine_available", _engine.Engine is null ? 0 : 1);
        EngineCounters? counters = null;
        try
        {
            counters = _engine.Engine?.ReadCounters();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogCountersFailed(e.Message);
        }
        if (counters is not null)
        {
            Family(text, "seccomp_ebpf_engine_decisions_total", "counter", "Decisions taken in the kernel for managed syscalls, by action (all containers).");
            foreach (var (action, count) in counters.Decisions.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal))
                Sample(text, "seccomp_ebpf_engine_decisions_total", count, ("action", action.ToString()));
            Counter(text, "seccomp_ebpf_ringbuffer_drops_total", "Events lost because the ring buffer was full.", counters.RingBufferDrops);
            Counter(text, "seccomp_ebpf_rate_limit_drops_total", "LOG events not reported because a container exceeded enforcement.logEventsPerSecondPerContainer.", counters.RateLimitDrops);
            Counter(text, "seccomp_ebpf_event_channel_drops_total", "Events read from the ring buffer but dropped before the daemon consumed them.", counters.ChannelDrops);
            Counter(text, "seccomp_ebpf_signal_failures_total", "KILL signals that could not be sent.", counters.SignalFailures);
            Counter(text, "seccomp_ebpf_missing_slots_total", "Syscalls of bound cgroups whose profile slot was missing.", counters.MissingSlots);
        }
        Counter(text, "seccomp_ebpf_subscriber_drops_total", "Events an `events -f` client was too slow to receive.", (ulong)_events.SubscriberDrops);

        Family(text, "seccomp_ebpf_bound_containers", "gauge", "Containers with a profile bound in the kernel, by state.");
        foreach (var group in policies.Where(p => p.BoundCgroupId != 0).GroupBy(p => p.State.ToString().ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
            Sample(text, "seccomp_ebpf_bound_containers", group.Count(), ("state", group.Key));
        Family(text, "seccomp_ebpf_containers", "gauge", "Containers known to the daemon, by policy state.");
        foreach (var group in policies.GroupBy(p => p.State.ToString().ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
            Sample(text, "seccomp_ebpf_containers", group.Count(), ("state", group.Key));
        Family(text, "seccomp_ebpf_degraded_actions", "gauge", "Actions of bound profiles that this kernel enforces in a degraded way, by requested action.");
        foreach (var group in policies.Where(p => p.Report is not null).SelectMany(p => p.Report!.Actions)
                     .Where(a => a.Mechanism == EnforcementMechanism.Degraded).GroupBy(a => a.Requested.ToString()).OrderBy(g => g.Key, StringComparer.Ordinal))
            Sample(text, "seccomp_ebpf_degraded_actions", group.Count(), ("action", group.Key));
        Family(text, "seccomp_ebpf_degraded_containers", "gauge", "Bound containers with at least one degraded action.");
        Sample(text, "seccomp_ebpf_degraded_containers", policies.Count(p => p.Report?.IsDegraded == true));

        Family(text, "seccomp_ebpf_container_syscalls", "gauge", "Syscalls of each bound container's profile (native ABI) by exactness class on this kernel: exact (before entry), after_entry (killed), not_prevented.");
        foreach (var entry in snapshot.Entries.Where(e => e.Policy?.Report?.Exactness is not null).OrderBy(e => e.Id, StringComparer.Ordinal))
        {
            var (policy, container, pod) = (entry.Policy!, entry.Container, snapshot.PodOf(entry));
            var x = policy.Report!.Exactness!;
            foreach (var (cls, count) in new[] { ("exact", x.Exact), ("after_entry", x.AfterEntry), ("not_prevented", x.NotPrevented) })
            {
                Sample(text, "seccomp_ebpf_container_syscalls", count, ("namespace", pod?.Namespace ?? ""), ("pod", pod?.Name ?? ""),
                    ("container", container.Name), ("container_id", policy.ContainerId[..Math.Min(12, policy.ContainerId.Length)]), ("class", cls));
            }
        }
        Family(text, "seccomp_ebpf_container_kernel_seccomp_syscalls", "gauge", "Exact syscalls of each bound container's profile (native ABI) that the container's own kernel seccomp filter stops before entry, with no BPF work.");
        foreach (var entry in snapshot.Entries.Where(e => e.Policy?.Report?.Exactness is not null).OrderBy(e => e.Id, StringComparer.Ordinal))
        {
            var (policy, container, pod) = (entry.Policy!, entry.Container, snapshot.PodOf(entry));
            Sample(text, "seccomp_ebpf_container_kernel_seccomp_syscalls", policy.Report!.Exactness!.KernelSeccomp, ("namespace", pod?.Namespace ?? ""), ("pod", pod?.Name ?? ""),
                ("container", container.Name), ("container_id", policy.ContainerId[..Math.Min(12, policy.ContainerId.Length)]));
        }

        Family(text, "seccomp_ebpf_nri_handler_duration_seconds", "histogram", "Time spent in the daemon's NRI event handlers, by event.");
        foreach (var (nriEvent, (cumulative, count, sum)) in _latency.Snapshot().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            for (var i = 0; i < NriHandlerLatency.Buckets.Length; i++)
                Sample(text, "seccomp_ebpf_nri_handler_duration_seconds_bucket", cumulative[i], ("event", nriEvent), ("le", Number(NriHandlerLatency.Buckets[i])));
            Sample(text, "seccomp_ebpf_nri_handler_duration_seconds_bucket", count, ("event", nriEvent), ("le", "+Inf"));
            Sample(text, "seccomp_ebpf_nri_handler_duration_seconds_sum", sum, ("event", nriEvent));
            Sample(text, "seccomp_ebpf_nri_handler_duration_seconds_count", count, ("event", nriEvent));
        }

        Family(text, "seccomp_ebpf_kubernetes_events_total", "counter", "Kubernetes Events by outcome (posted, folded duplicates, dropped by the rate limit or a full queue, failed).");
        Sample(text, "seccomp_ebpf_kubernetes_events_total", _recorder.Posted, ("result", "posted"));
        Sample(text, "seccomp_ebpf_kubernetes_events_total", _recorder.Folded, ("result", "folded"));
        Sample(text, "seccomp_ebpf_kubernetes_events_total", _recorder.Dropped, ("result", "dropped"));
        Sample(text, "seccomp_ebpf_kubernetes_events_total", _recorder.Failed, ("result", "failed"));
        return text.ToString();
    }

    private static void Family(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Counter(StringBuilder text, string name, string help, ulong value)
    {
        Family(text, name, "counter", help);
        Sample(text, name, value);
    }

    private static void Sample(StringBuilder text, string name, double value, params (string Name, string Value)[] labels)
    {
        text.Append(name);
        if (labels.Length > 0)
        {
            text.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                if (i > 0)
                    text.Append(',');
                text.Append(labels[i].Name).Append("=\"").Append(Escape(labels[i].Value)).Append('"');
            }
            text.Append('}');
        }
        text.Append(' ').Append(Number(value)).Append('\n');
    }

    private ShadowCounts? ReadShadow(ulong cgroupId)
    {
        try
        {
            return _engine.Engine?.ReadShadow(cgroupId);
        }
        catch (ObjectDisposedException)
        {
            return null; // shutting down
        }
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    [LoggerMessage(Level = LogLevel.Information, Message = "Metrics listening on http://{Address}:{Port}/metrics (also /healthz, /readyz)")]
    private partial void LogListening(string address, int port);

    [LoggerMessage(Level = LogLevel.Error, Message = "Metrics endpoint {Address}:{Port} could not be opened: {Problem}")]
    private partial void LogListenFailed(string address, int port, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Serving {Path} failed: {Problem}")]
    private partial void LogServeFailed(string path, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Engine counters could not be read: {Problem}")]
    private partial void LogCountersFailed(string problem);
}
