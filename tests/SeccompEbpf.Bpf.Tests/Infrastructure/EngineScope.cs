using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>A unique pin root per test class under /sys/fs/bpf/seccomp-ebpf-test-*, removed afterwards.</summary>
internal sealed class EngineScope : IDisposable
{
    internal EngineScope(string label)
    {
        if (Environment.UserName != "root")
            throw new InvalidOperationException("the BPF engine tests need root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)");
        PinRoot = $"/sys/fs/bpf/seccomp-ebpf-test-{label}-{Guid.NewGuid():N}"[..56];
        Loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
    }

    internal string PinRoot { get; }
    internal ILoggerFactory Loggers { get; }

    internal EngineOptions Options(UnenforceablePolicy policy = UnenforceablePolicy.Refuse, int eventsPerSecond = 0)
        => new() { PinRoot = PinRoot, OnUnenforceable = policy, LogEventsPerSecondPerContainer = eventsPerSecond, EventChannelCapacity = 1 << 21 };

    internal EnforcementEngine Open(UnenforceablePolicy policy = UnenforceablePolicy.Refuse, int eventsPerSecond = 0)
        => EnforcementEngine.Open(Options(policy, eventsPerSecond), Loggers);

    public void Dispose()
    {
        if (Directory.Exists(PinRoot))
        {
            using var cleaner = EnforcementEngine.Open(Options() with { DetachOnExit = true }, Loggers);
        }
        Loggers.Dispose();
    }
}

internal static class EventReading
{
    /// <summary>Reads events until the predicate has seen what it needs; the time limit only guards against a hang.</summary>
    internal static async Task<List<SyscallEvent>> ReadUntilAsync(this ChannelReader<SyscallEvent> reader, Func<List<SyscallEvent>, bool> done, string waitingFor, int guardSeconds = 30)
    {
        var events = new List<SyscallEvent>();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(guardSeconds));
        try
        {
            while (!done(events))
                events.Add(await reader.ReadAsync(guard.Token));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no {waitingFor} after {guardSeconds} s; got {events.Count} events: {string.Join("; ", events.Take(5))}");
        }
        return events;
    }
}
