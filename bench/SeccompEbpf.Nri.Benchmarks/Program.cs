using System.Diagnostics;
using BenchmarkDotNet.Running;
using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Nri;
using SeccompEbpf.Nri.Benchmarks;
using SeccompEbpf.Nri.Testing;

// Two quick measurements BenchmarkDotNet does not give, printed before it starts (its runs happen in child processes):
// 1. "process start to registered": how much of the runtime's 5 s registration window a plugin process uses;
// 2. per-event StartContainer latency percentiles (BenchmarkDotNet reports per-iteration means).
TimeSpan sinceProcessStart = await MeasureStartupAsync();
Console.WriteLine($"process start -> Registered (Configure answered): {sinceProcessStart.TotalMilliseconds:0.0} ms");
await MeasureLatencyPercentilesAsync(warmup: 20_000, measured: 20_000);
if (args.Contains("--quick"))
{
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(StartContainerBenchmarks).Assembly).Run(args);

static async Task<TimeSpan> MeasureStartupAsync()
{
    await using var runtime = FakeNriRuntime.Create(NullLogger.Instance);
    var registered = new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously);
    await using var plugin = new NriPlugin(new CountingPlugin(), new NriPluginOptions { SocketPath = runtime.SocketPath, Name = "startup", Index = "10" }, NullLogger<NriPlugin>.Instance);
    plugin.StateChanged += state =>
    {
        if (state is NriConnectionState.Registered)
        {
            registered.TrySetResult(DateTime.Now);
        }
    };

    using var stop = new CancellationTokenSource();
    Task run = plugin.RunAsync(stop.Token);
    FakeRuntimeConnection connection = await runtime.AcceptAsync();
    await connection.Registration;
    await connection.ConfigureAsync();
    DateTime at = await registered.Task;
    stop.Cancel();
    await run;
    return at - Process.GetCurrentProcess().StartTime;
}

static async Task MeasureLatencyPercentilesAsync(int warmup, int measured)
{
    var benchmark = new StartContainerBenchmarks();
    await benchmark.SetupAsync();
    try
    {
        for (int i = 0; i < warmup; i++)
        {
            await benchmark.StartContainerDedicated();
        }

        double[] micros = new double[measured];
        for (int i = 0; i < measured; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await benchmark.StartContainerDedicated();
            micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        Array.Sort(micros);
        double P(double q) => micros[Math.Min(micros.Length - 1, (int)(q * micros.Length))];
        Console.WriteLine($"StartContainer round trip over {measured} events: p50 {P(0.50):0.0} us, p90 {P(0.90):0.0} us, p99 {P(0.99):0.0} us, p99.9 {P(0.999):0.0} us, max {micros[^1]:0.0} us");
    }
    finally
    {
        await benchmark.CleanupAsync();
    }
}
