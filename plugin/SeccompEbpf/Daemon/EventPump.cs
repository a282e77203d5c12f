using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Control;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Daemon;

/// <summary>
/// Drains the engine's events, names the pod and container behind each, counts them per container, keeps the most
/// recent ones and fans them out to `events` clients. A slow client loses events (counted), never the workload.
/// </summary>
internal sealed partial class EventPump(EngineHost engine, ContainerTable table, ILogger<EventPump> logger) : BackgroundService
{
    private const int Recent = 4096;
    private const int SubscriberBuffer = 8192;
    private readonly ConcurrentQueue<SyscallEventView> _recent = new();
    private readonly ConcurrentDictionary<Channel<SyscallEventView>, byte> _subscribers = new();
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, ulong>> _decisions = new(StringComparer.Ordinal);
    private long _subscriberDrops;

    public IReadOnlyCollection<SyscallEventView> RecentEvents => _recent.ToArray();

    public long SubscriberDrops => Interlocked.Read(ref _subscriberDrops);

    public IReadOnlyDictionary<string, ulong> DecisionsOf(string containerId) =>
        _decisions.TryGetValue(containerId, out var counts) ? counts.ToDictionary() : new Dictionary<string, ulong>();

    public void Forget(string containerId) => _decisions.TryRemove(containerId, out _);

    public ChannelReader<SyscallEventView> Subscribe(CancellationToken ct)
    {
        var channel = Channel.CreateBounded<SyscallEventView>(new BoundedChannelOptions(SubscriberBuffer)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        });
        _subscribers[channel] = 0;
        ct.Register(() =>
        {
            _subscribers.TryRemove(channel, out _);
            channel.Writer.TryComplete();
        });
        return channel.Reader;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (engine.Engine is not { } e)
            return;
        try
        {
            await foreach (var raw in e.Events.ReadAllAsync(stoppingToken).ConfigureAwait(false))
                Publish(ToView(raw));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private SyscallEventView ToView(SyscallEvent raw)
    {
        var owner = table.OwnerOfCgroup(raw.BoundCgroupId);
        var (containerId, container, pod) = (owner?.Entry.Id, owner?.Entry.Container, owner?.Pod);
        var arch = raw.AuditArch switch
        {
            SyscallTables.AuditArchI386 => "i386",
            SyscallTables.AuditArchAarch64 => "aarch64",
            _ => (raw.Nr & SyscallTables.X32SyscallBit) != 0 ? "x32" : "x86_64",
        };
        var action = raw.Action is SeccompAction.Errno or SeccompAction.Trace ? $"{raw.Action}({raw.Data})" : raw.Action.ToString();
        if (raw.Flags.HasFlag(SyscallEventFlags.Degraded))
            action += " (degraded)";
        return new SyscallEventView(
            DateTimeOffset.UtcNow, pod?.Namespace, pod?.Name, container?.Name, containerId, raw.CgroupId, raw.Pid, raw.Tid, raw.Comm, arch,
            raw.SyscallName ?? $"#{raw.Nr}", (int)raw.Nr, raw.Args, action,
            // a shadow's verdict was not applied, whatever the binding's mode: its own mode keeps it apart in every view
            raw.Flags.HasFlag(SyscallEventFlags.Shadow) ? "shadow" : raw.Mode == EnforcementMode.Audit ? "audit" : "enforce");
    }

    private void Publish(SyscallEventView view)
    {
        _recent.Enqueue(view);
        while (_recent.Count > Recent)
            _recent.TryDequeue(out _);
        if (view.ContainerId is not null && view.Mode != "shadow") // decisions are what was in force; ps counts the shadow's apart
        {
            var counts = _decisions.GetOrAdd(view.ContainerId, _ => new ConcurrentDictionary<string, ulong>(StringComparer.Ordinal));
            counts.AddOrUpdate(view.Action, 1, (_, n) => n + 1);
        }
        foreach (var subscriber in _subscribers.Keys)
        {
            if (!subscriber.Writer.TryWrite(view))
                Interlocked.Increment(ref _subscriberDrops);
        }
        // Denials and kills are rare and worth a log line; LOG and audit events are the stream's job (they can be many).
        if (view.Mode == "enforce" && view.Action != "Log")
            LogDecision(view.Namespace, view.Pod, view.Container, view.Pid, view.Syscall, view.Action, view.Mode);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Syscall {Syscall} of pod {Namespace}/{Pod} container {Container} pid {Pid}: {Action} ({Mode})")]
    private partial void LogDecision(string? @namespace, string? pod, string? container, int pid, string syscall, string action, string mode);
}
