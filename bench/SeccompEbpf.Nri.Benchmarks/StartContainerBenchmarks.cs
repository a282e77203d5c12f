using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Logging.Abstractions;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Testing;

namespace SeccompEbpf.Nri.Benchmarks;

/// <summary>A minimal StartContainer handler: what the daemon's hot path costs on top of it is measured elsewhere.</summary>
internal sealed class CountingPlugin : IStartContainerHandler, ICreateContainerHandler
{
    public long Starts;

    public ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Interlocked.Increment(ref Starts);
        return ValueTask.CompletedTask;
    }

    public ValueTask<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
        => ValueTask.FromResult(new CreateContainerResponse());
}

/// <summary>
/// One NRI event round trip through the whole stack over a real unix socket: the fake runtime's ttrpc client
/// encodes and sends, the plugin's mux/ttrpc server decodes, dispatches to the handler and answers. Allocations
/// are those of both ends (they share the process).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PercentileConfig))]
public class StartContainerBenchmarks
{
    private FakeNriRuntime _runtime = null!;
    private NriPlugin _plugin = null!;
    private FakeRuntimeConnection _connection = null!;
    private CancellationTokenSource _stop = null!;
    private Task _run = null!;
    private StartContainerRequest _start = null!;
    private StateChangeEvent _stateChange = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _runtime = FakeNriRuntime.Create(NullLogger.Instance);
        _plugin = new NriPlugin(new CountingPlugin(), new NriPluginOptions { SocketPath = _runtime.SocketPath, Name = "bench", Index = "10" }, NullLogger<NriPlugin>.Instance);
        _stop = new CancellationTokenSource();
        _run = _plugin.RunAsync(_stop.Token);
        _connection = await _runtime.AcceptAsync();
        await _connection.HandshakeAsync();

        // A realistic event: containerd's StartContainer carries the pod, the container, labels, mounts and namespaces.
        var pod = new PodSandbox { Id = new string('p', 64), Name = "bench-pod", Uid = Guid.NewGuid().ToString(), Namespace = "default", Pid = 4321 };
        pod.Labels["app"] = "bench";
        pod.Annotations["io.kubernetes.pod.namespace"] = "default";
        var container = new Container { Id = new string('c', 64), PodSandboxId = pod.Id, Name = "app", State = ContainerState.ContainerCreated, Pid = 4567 };
        container.Args.Add(["/bin/sleep", "3600"]);
        container.Env.Add(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=bench"]);
        container.Mounts.Add(new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = { "nosuid", "noexec", "nodev" } });
        container.Linux = new LinuxContainer { CgroupsPath = "/k8s.io/" + container.Id };
        container.Linux.Namespaces.Add(new LinuxNamespace { Type = "pid", Path = "/proc/4321/ns/pid" });
        container.Linux.Namespaces.Add(new LinuxNamespace { Type = "mount" });
        _start = new StartContainerRequest { Pod = pod, Container = container };
        _stateChange = new StateChangeEvent { Event = Event.StartContainer, Pod = pod, Container = container };
    }

    /// <summary>NRI 0.12 runtimes: the dedicated StartContainer RPC.</summary>
    [Benchmark(Baseline = true)]
    public Task<StartContainerResponse> StartContainerDedicated() => _connection.CallAsync("StartContainer", _start, StartContainerResponse.Parser);

    /// <summary>NRI 0.11 and older (containerd 1.7): StartContainer carried by StateChange.</summary>
    [Benchmark]
    public Task<Empty> StartContainerViaStateChange() => _connection.CallAsync("StateChange", _stateChange, Empty.Parser);

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _stop.Cancel();
        await _run;
        await _plugin.DisposeAsync();
        await _runtime.DisposeAsync();
    }
}

/// <summary>Adds the median and tail percentiles to the summary table.</summary>
internal sealed class PercentileConfig : ManualConfig
{
    public PercentileConfig() => AddColumn(StatisticColumn.P50, StatisticColumn.P95, StatisticColumn.Max);
}
