using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace SeccompEbpf.E2E.Tests;

/// <summary>One structured log entry of the daemon (its JSON console output).</summary>
public sealed record DaemonLogEntry(string Level, string Category, string Message, IReadOnlyDictionary<string, string> State)
{
    public string? this[string key] => State.GetValueOrDefault(key);
}

/// <summary>
/// A private configuration for one daemon under test: its own control socket, profile directories and bpffs pin root,
/// so tests never touch an installed daemon's state.
/// </summary>
public sealed class DaemonConfig
{
    public DaemonConfig(string root, string nriSocket)
    {
        Root = root;
        NriSocket = nriSocket;
        PinRoot = "/sys/fs/bpf/seccomp-ebpf-e2e-" + Path.GetFileName(root);
        Directory.CreateDirectory(ProfileDirectory);
        Directory.CreateDirectory(KubeletSeccompRoot);
    }

    public string Root { get; }
    public string NriSocket { get; }
    public string PinRoot { get; }
    public string ControlSocket => Path.Join(Root, "control.sock");
    public string ProfileDirectory => Path.Join(Root, "profiles");
    public string KubeletSeccompRoot => Path.Join(Root, "kubelet-seccomp");
    public string ConfigPath => Path.Join(Root, "seccomp-ebpf.json");
    public string? DefaultProfile { get; set; }
    public string OnInvalidPolicy { get; set; } = "veto";
    /// <summary>enforcement.onUnenforceable; null leaves it out, so the daemon's default applies.</summary>
    public string? OnUnenforceable { get; set; } = "refuse";

    private static readonly JsonSerializerOptions WriteOptions = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>gate.mode (off, log, deny-exec, profile); null keeps the daemon's default.</summary>
    public string? GateMode { get; set; }

    /// <summary>gate.profile: the fallback of gate mode profile.</summary>
    public string? GateProfile { get; set; }

    public string Write()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new
        {
            nri = new { socketPath = NriSocket },
            control = new { socketPath = ControlSocket },
            enforcement = new { pinRoot = PinRoot, onUnenforceable = OnUnenforceable },
            policy = new
            {
                profileDirectory = ProfileDirectory,
                kubeletSeccompRoot = KubeletSeccompRoot,
                defaultProfile = DefaultProfile,
                onInvalidPolicy = OnInvalidPolicy == "veto" ? "Veto" : "StartUnmanaged",
                reloadDebounceMilliseconds = 50,
            },
            gate = GateMode is null ? null : new { mode = GateMode, profile = GateProfile },
        }, WriteOptions);
        File.WriteAllText(ConfigPath, json);
        return ConfigPath;
    }

    /// <summary>Writes profile <paramref name="name"/> into the profile directory.</summary>
    public void WriteProfile(string name, string json)
    {
        // Write then rename, as editors and kubectl cp do, so the watcher never reads half a file.
        var path = Path.Join(ProfileDirectory, name + ".json");
        File.WriteAllText(path + ".tmp", json);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Removes the pinned BPF state this daemon left (it keeps enforcement pinned on exit by design).</summary>
    public async Task DetachAsync()
    {
        if (Directory.Exists(PinRoot))
            await Containerd.Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["detach", "--pin-root", PinRoot]);
    }
}

/// <summary>The real <c>seccomp-ebpf</c> executable running as a child process, with its logs captured.</summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<DaemonLogEntry> _entries = new();
    private readonly ConcurrentQueue<string> _rawLines = new();
    private readonly SemaphoreSlim _newEntry = new(0);

    private DaemonProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The published daemon next to the test assembly (the E2E project references it).</summary>
    public static string ExecutablePath => Path.Join(AppContext.BaseDirectory, "seccomp-ebpf");

    public IReadOnlyCollection<DaemonLogEntry> Entries => _entries.ToArray();
    public string Output => string.Join('\n', _rawLines);
    public bool HasExited => _process.HasExited;
    public int Pid => _process.Id;

    /// <summary>Starts the daemon with <paramref name="config"/> written out as its configuration file.</summary>
    public static DaemonProcess Start(DaemonConfig config) => Start("--config", config.Write());

    /// <summary>Starts the daemon with extra environment (for example a TestHooks fault injection).</summary>
    public static DaemonProcess Start(DaemonConfig config, IReadOnlyDictionary<string, string> environment) =>
        Start(environment, "--config", config.Write());

    public static DaemonProcess Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    private static DaemonProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(ExecutablePath, ["run", "--log-format", "json", .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("NRI_PLUGIN_SOCKET");
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        return new DaemonProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start seccomp-ebpf"));
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        _rawLines.Enqueue(line);
        if (Parse(line) is { } entry)
        {
            _entries.Enqueue(entry);
            _newEntry.Release();
        }
    }

    internal static DaemonLogEntry? Parse(string line)
    {
        if (!line.StartsWith('{'))
            return null;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var state = new Dictionary<string, string>();
            if (root.TryGetProperty("State", out var s) && s.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in s.EnumerateObject())
                    state[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
            return new DaemonLogEntry(
                root.GetProperty("LogLevel").GetString() ?? "",
                root.GetProperty("Category").GetString() ?? "",
                root.GetProperty("Message").GetString() ?? "",
                state);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Waits until the daemon serves: its first Synchronize answered and reconciled (every running container bound) and
    /// its control socket listening.
    /// </summary>
    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        await WaitForAsync(e => e.Message.StartsWith("Synchronize of ", StringComparison.Ordinal), timeout, "Synchronize answered and reconciled");
        await WaitForAsync(e => e.Message.StartsWith("Control socket listening", StringComparison.Ordinal), timeout, "the control socket");
    }

    /// <summary>Waits until a log entry satisfies <paramref name="predicate"/>; fails with the daemon's output and managed stacks otherwise.</summary>
    public async Task<DaemonLogEntry> WaitForAsync(Func<DaemonLogEntry, bool> predicate, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_entries.FirstOrDefault(predicate) is { } hit)
                return hit;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"daemon did not log {what} within {timeout.TotalSeconds:0.#} s; output:\n{Tail()}\n{await ManagedStacksAsync()}");
            await _newEntry.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>The lifecycle events logged for one container, in order.</summary>
    public IReadOnlyList<DaemonLogEntry> ContainerEvents(string containerId) =>
        Entries.Where(e => e["ContainerId"] == containerId && e["NriEvent"] is not null).ToList();

    public string Tail(int lines = 60) => string.Join('\n', _rawLines.TakeLast(lines));

    /// <summary>dotnet-stack, where test.sh installs it (a fixed path: the qemu guests see this root, not the host's environment).</summary>
    private const string StackTool = "/opt/seccomp-ebpf-test-tools/dotnet-stack";

    /// <summary>The daemon's managed thread stacks now (dotnet-stack report), or why there are none.</summary>
    public async Task<string> ManagedStacksAsync()
    {
        if (_process.HasExited)
            return $"(no managed stacks: the daemon exited with {_process.ExitCode})";
        if (!File.Exists(StackTool))
            return $"(no managed stacks: {StackTool} is not installed; test.sh installs it)";
        using var report = Process.Start(new ProcessStartInfo(StackTool, ["report", "-p", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var stdout = report.StandardOutput.ReadToEndAsync();
        var stderr = report.StandardError.ReadToEndAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(90)); // TCG: a .NET tool takes long to start
        try
        {
            await report.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            report.Kill(entireProcessTree: true);
            return "(no managed stacks: dotnet-stack report did not finish within 90 s)";
        }
        var lines = (await stdout).Split('\n');
        string problem = (await stderr).Trim();
        return $"managed stacks of the daemon (dotnet-stack report, exit {report.ExitCode}{(problem.Length == 0 ? "" : ": " + problem)}):\n"
            + string.Join('\n', lines.Take(400)) + (lines.Length > 400 ? $"\n... {lines.Length - 400} more lines" : "");
    }

    /// <summary>The exit code, once the daemon exits by itself within <paramref name="timeout"/>; fails with its output otherwise.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"daemon still running after {timeout.TotalSeconds:0.#} s; output:\n{Tail()}");
        }
        return _process.ExitCode;
    }

    public Task StopAsync() => _process.StopGracefullyAsync(TimeSpan.FromSeconds(15));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }
}
