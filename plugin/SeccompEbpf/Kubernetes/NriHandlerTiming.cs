using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Kubernetes;

/// <summary>NRI handler durations per event, as a Prometheus histogram (seconds).</summary>
internal sealed class NriHandlerLatency
{
    public static readonly double[] Buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly ConcurrentDictionary<string, Histogram> _byEvent = new(StringComparer.Ordinal);

    public void Observe(string nriEvent, TimeSpan elapsed) => _byEvent.GetOrAdd(nriEvent, _ => new Histogram()).Observe(elapsed.TotalSeconds);

    public IReadOnlyDictionary<string, (long[] Cumulative, long Count, double Sum)> Snapshot() =>
        _byEvent.ToDictionary(kv => kv.Key, kv => kv.Value.Snapshot());

    private sealed class Histogram
    {
        private readonly long[] _counts = new long[Buckets.Length];
        private long _count;
        private long _sumNanoseconds;

        public void Observe(double seconds)
        {
            for (var i = 0; i < Buckets.Length; i++)
            {
                if (seconds <= Buckets[i])
                {
                    Interlocked.Increment(ref _counts[i]);
                    break;
                }
            }
            Interlocked.Increment(ref _count);
            Interlocked.Add(ref _sumNanoseconds, (long)(seconds * 1e9));
        }

        public (long[] Cumulative, long Count, double Sum) Snapshot()
        {
            var cumulative = new long[Buckets.Length];
            long running = 0;
            for (var i = 0; i < Buckets.Length; i++)
                cumulative[i] = running += Interlocked.Read(ref _counts[i]);
            return (cumulative, Interlocked.Read(ref _count), Interlocked.Read(ref _sumNanoseconds) / 1e9);
        }
    }
}

/// <summary>
/// Times every NRI handler of the daemon for the metrics endpoint. The NRI library subscribes to exactly the events
/// whose handler interfaces the object implements, so <see cref="Wrap"/> only wraps when this decorator implements the
/// same set as the inner handler; otherwise it returns the inner handler untimed (and says so).
/// </summary>
internal sealed partial class NriHandlerTiming(object inner, NriHandlerLatency latency) :
    IConfigureHandler, ISynchronizeHandler,
    IRunPodSandboxHandler, IStopPodSandboxHandler, IRemovePodSandboxHandler,
    ICreateContainerHandler, IPostCreateContainerHandler, IStartContainerHandler, IPostStartContainerHandler,
    IUpdateContainerHandler, IPostUpdateContainerHandler, IStopContainerHandler, IRemoveContainerHandler
{
    public static object Wrap(object inner, NriHandlerLatency latency, ILogger logger)
    {
        static HashSet<Type> HandlerInterfaces(Type t) =>
            t.GetInterfaces().Where(i => i.Namespace == typeof(IConfigureHandler).Namespace && i.Name.EndsWith("Handler", StringComparison.Ordinal)).ToHashSet();
        var mine = HandlerInterfaces(typeof(NriHandlerTiming));
        var theirs = HandlerInterfaces(inner.GetType());
        if (!mine.SetEquals(theirs))
        {
            LogUntimed(logger, string.Join(", ", theirs.Except(mine).Concat(mine.Except(theirs)).Select(t => t.Name)));
            return inner;
        }
        return new NriHandlerTiming(inner, latency);
    }

    private async ValueTask Time(string nriEvent, Func<ValueTask> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await call().ConfigureAwait(false);
        }
        finally
        {
            latency.Observe(nriEvent, Stopwatch.GetElapsedTime(started));
        }
    }

    private async ValueTask<T> Time<T>(string nriEvent, Func<ValueTask<T>> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await call().ConfigureAwait(false);
        }
        finally
        {
            latency.Observe(nriEvent, Stopwatch.GetElapsedTime(started));
        }
    }

    public ValueTask ConfigureAsync(NriRuntimeInfo runtime, string config, CancellationToken ct) =>
        Time("Configure", () => ((IConfigureHandler)inner).ConfigureAsync(runtime, config, ct));

    public ValueTask<IReadOnlyList<ContainerUpdate>> SynchronizeAsync(IReadOnlyList<PodSandbox> pods, IReadOnlyList<Container> containers, CancellationToken ct) =>
        Time("Synchronize", () => ((ISynchronizeHandler)inner).SynchronizeAsync(pods, containers, ct));

    public ValueTask RunPodSandboxAsync(PodSandbox pod, CancellationToken ct) =>
        Time("RunPodSandbox", () => ((IRunPodSandboxHandler)inner).RunPodSandboxAsync(pod, ct));

    public ValueTask StopPodSandboxAsync(PodSandbox pod, CancellationToken ct) =>
        Time("StopPodSandbox", () => ((IStopPodSandboxHandler)inner).StopPodSandboxAsync(pod, ct));

    public ValueTask RemovePodSandboxAsync(PodSandbox pod, CancellationToken ct) =>
        Time("RemovePodSandbox", () => ((IRemovePodSandboxHandler)inner).RemovePodSandboxAsync(pod, ct));

    public ValueTask<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("CreateContainer", () => ((ICreateContainerHandler)inner).CreateContainerAsync(pod, container, ct));

    public ValueTask PostCreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("PostCreateContainer", () => ((IPostCreateContainerHandler)inner).PostCreateContainerAsync(pod, container, ct));

    public ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("StartContainer", () => ((IStartContainerHandler)inner).StartContainerAsync(pod, container, ct));

    public ValueTask PostStartContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("PostStartContainer", () => ((IPostStartContainerHandler)inner).PostStartContainerAsync(pod, container, ct));

    public ValueTask<UpdateContainerResponse> UpdateContainerAsync(PodSandbox pod, Container container, LinuxResources? resources, CancellationToken ct) =>
        Time("UpdateContainer", () => ((IUpdateContainerHandler)inner).UpdateContainerAsync(pod, container, resources, ct));

    public ValueTask PostUpdateContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("PostUpdateContainer", () => ((IPostUpdateContainerHandler)inner).PostUpdateContainerAsync(pod, container, ct));

    public ValueTask<StopContainerResponse> StopContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("StopContainer", () => ((IStopContainerHandler)inner).StopContainerAsync(pod, container, ct));

    public ValueTask RemoveContainerAsync(PodSandbox pod, Container container, CancellationToken ct) =>
        Time("RemoveContainer", () => ((IRemoveContainerHandler)inner).RemoveContainerAsync(pod, container, ct));

    [LoggerMessage(Level = LogLevel.Warning, Message = "NRI handler latency is not measured: the handler's NRI interfaces differ from the timing decorator's ({Difference})")]
    private static partial void LogUntimed(ILogger logger, string difference);
}
