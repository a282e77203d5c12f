using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Testing;

namespace SeccompEbpf.Daemon.Benchmarks;

/// <summary>How long each step of a fresh daemon's start took, from just before the process was spawned.</summary>
internal sealed record StartTimes(double ConnectedMs, double RegisterPluginMs, double ConfigureAnsweredMs, double SynchronizeAnsweredMs);

/// <summary>
/// One <c>seccomp-ebpf run</c> process with a private configuration (pin root, control socket, profile directory),
/// connected to a fake runtime that listens before the daemon starts, as containerd's socket does.
/// </summary>
internal sealed partial class DaemonUnderTest : IAsyncDisposable
{
    public const string ProfileAnnotation = "seccomp-ebpf.io/profile";

    private readonly Process _process;
    private readonly FakeNriRuntime _runtime;
    private readonly StreamWriter _log;
    private readonly string _pinRoot;
    private readonly string _daemonPath;
    private FakeRuntimeConnection? _connection;
    private int _bound;
    private int _refused;

    private DaemonUnderTest(Process process, FakeNriRuntime runtime, StreamWriter log, string pinRoot, string daemonPath)
    {
        _process = process;
        _runtime = runtime;
        _log = log;
        _pinRoot = pinRoot;
        _daemonPath = daemonPath;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>"Bound pod …" lines the daemon logged: every StartContainer of the benchmark must produce one.</summary>
    public int BoundCount => Volatile.Read(ref _bound);

    /// <summary>Vetoes and "not enforced" lines: any of them means the benchmark measured the wrong path.</summary>
    public int RefusedCount => Volatile.Read(ref _refused);

    public FakeRuntimeConnection Connection => _connection ?? throw new InvalidOperationException("not connected");

    /// <summary>Spawns the daemon and takes it through registration, Configure and an empty Synchronize.</summary>
    public static async Task<(DaemonUnderTest Daemon, StartTimes Times)> StartAsync(
        string daemonPath, string workDirectory, IReadOnlyDictionary<string, string> environment, CancellationToken ct)
    {
        Directory.CreateDirectory(workDirectory);
        string profiles = Path.Join(workDirectory, "profiles");
        Directory.CreateDirectory(profiles);
        string pinRoot = "/sys/fs/bpf/seccomp-ebpf-bench-" + Path.GetFileName(workDirectory);
        var runtime = FakeNriRuntime.Create(NullLogger.Instance);
        string config = Path.Join(workDirectory, "config.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            nri = new { socketPath = runtime.SocketPath },
            control = new { socketPath = Path.Join(workDirectory, "control.sock") },
            enforcement = new { pinRoot },
            policy = new { profileDirectory = profiles, kubeletSeccompRoot = profiles },
        }), ct);

        var start = new ProcessStartInfo(daemonPath, ["run", "--config", config])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("NRI_PLUGIN_SOCKET");
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var log = new StreamWriter(Path.Join(workDirectory, "daemon.log")) { AutoFlush = true };
        long spawned = Stopwatch.GetTimestamp();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {daemonPath}");
        var daemon = new DaemonUnderTest(process, runtime, log, pinRoot, daemonPath);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            Task<FakeRuntimeConnection> accept = runtime.AcceptAsync(ct: timeout.Token);
            if (await Task.WhenAny(accept, process.WaitForExitAsync(timeout.Token)) != accept)
            {
                throw new InvalidOperationException($"the daemon exited with {process.ExitCode} before connecting; see {workDirectory}/daemon.log");
            }

            daemon._connection = await accept;
            double connected = Stopwatch.GetElapsedTime(spawned).TotalMilliseconds;
            await daemon._connection.Registration.WaitAsync(timeout.Token);
            double registered = Stopwatch.GetElapsedTime(spawned).TotalMilliseconds;
            await daemon._connection.ConfigureAsync();
            double configured = Stopwatch.GetElapsedTime(spawned).TotalMilliseconds;
            await daemon._connection.SynchronizeAsync([], []);
            double synchronized = Stopwatch.GetElapsedTime(spawned).TotalMilliseconds;
            return (daemon, new StartTimes(connected, registered, configured, synchronized));
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    public static PodSandbox Pod(string name, string? profile)
    {
        var pod = new PodSandbox { Id = Hex64("p" + name), Name = name, Namespace = "bench", Uid = Guid.NewGuid().ToString() };
        pod.Labels["app"] = name;
        pod.Annotations["io.kubernetes.pod.namespace"] = "bench";
        if (profile is not null)
        {
            pod.Annotations[ProfileAnnotation] = profile;
        }

        return pod;
    }

    public static Container Container(PodSandbox pod, string name, int pid)
    {
        var container = new Container { Id = Hex64("c" + pod.Name + "/" + name), PodSandboxId = pod.Id, Name = name, State = ContainerState.ContainerCreated, Pid = (uint)pid };
        container.Labels["io.kubernetes.container.name"] = name;
        container.Args.Add(["/bin/sleep", "3600"]);
        container.Env.Add(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=bench"]);
        container.Mounts.Add(new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = { "nosuid", "noexec", "nodev" } });
        container.Linux = new LinuxContainer { CgroupsPath = "/k8s.io/" + container.Id };
        return container;
    }

    /// <summary>CreateContainer as containerd sends it (no PID yet).</summary>
    public Task<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container)
    {
        var created = container.Clone();
        created.Pid = 0;
        return Connection.CallAsync("CreateContainer", new CreateContainerRequest { Pod = pod, Container = created }, CreateContainerResponse.Parser);
    }

    /// <summary>StartContainer as containerd 1.7 (NRI 0.6) sends it: a StateChange event.</summary>
    public Task<Empty> StartContainerAsync(PodSandbox pod, Container container)
    {
        var running = container.Clone();
        running.State = ContainerState.ContainerRunning;
        return Connection.CallAsync("StateChange", new StateChangeEvent { Event = Event.StartContainer, Pod = pod, Container = running }, Empty.Parser);
    }

    public Task<Empty> RemoveContainerAsync(PodSandbox pod, Container container)
    {
        var stopped = container.Clone();
        stopped.State = ContainerState.ContainerStopped;
        return Connection.CallAsync("StateChange", new StateChangeEvent { Event = Event.RemoveContainer, Pod = pod, Container = stopped }, Empty.Parser);
    }

    /// <summary>Resident set size now, from /proc/PID/status (VmRSS).</summary>
    public long RssBytes()
    {
        foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) * 1024;
            }
        }

        throw new InvalidOperationException("no VmRSS in /proc/PID/status");
    }

    /// <summary>Waits until the daemon has logged <paramref name="count"/> bindings (its console logger writes asynchronously).</summary>
    public async Task WaitForBoundAsync(int count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (BoundCount < count && clock.Elapsed < timeout)
        {
            await Task.Delay(20);
        }

        if (BoundCount < count)
        {
            throw new InvalidOperationException($"the daemon logged {BoundCount} bindings, expected {count} (refused: {RefusedCount})");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15); // SIGTERM: the daemon's ordinary shutdown
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }

        await _runtime.DisposeAsync();

        // The daemon leaves its BPF state pinned by design; the next cold start must find none.
        if (Directory.Exists(_pinRoot))
        {
            using var detach = Process.Start(new ProcessStartInfo(_daemonPath, ["detach", "--pin-root", _pinRoot]) { RedirectStandardOutput = true, RedirectStandardError = true });
            if (detach is not null)
            {
                await detach.StandardOutput.ReadToEndAsync();
                await detach.WaitForExitAsync();
            }
        }

        _log.Dispose();
        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.Contains("Bound pod ", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _bound);
        }
        else if (line.Contains("Vetoed pod ", StringComparison.Ordinal) || line.Contains(" is not enforced: ", StringComparison.Ordinal)
            || line.Contains("Enforcement engine unavailable", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _refused);
        }

        lock (_log)
        {
            _log.WriteLine(line);
        }
    }

    private static string Hex64(string seed) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed + Environment.ProcessId)));

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
