using System.Diagnostics;
using Grpc.Core;
using SeccompEbpf.Cri;
using SeccompEbpf.Cri.V1;

namespace SeccompEbpf.E2E.Tests.Containerd;

/// <summary>
/// A private, real containerd (config, sockets and state under one short temp dir) with NRI enabled, driven through
/// its CRI socket. Host-network pods only (no CNI), busybox image imported offline.
/// </summary>
/// <remarks>
/// The system's containerd (1.7, config version 2) by default; with <c>SECCOMP_EBPF_CONTAINERD_BIN</c> set to a
/// directory holding containerd, ctr and containerd-shim-runc-v2 (scripts/install-containerd2.sh unpacks 2.x there),
/// that build runs instead, with a version 3 config when it is 2.x.
/// </remarks>
public sealed class ContainerdInstance : IAsyncDisposable
{
    public const string PauseImage = "localhost/pause:local";
    public const string BusyboxImage = "localhost/busybox:local";

    /// <summary>Where this run's containerd comes from: a private prefix, or empty for the one on PATH.</summary>
    private static readonly string BinDirectory = Environment.GetEnvironmentVariable("SECCOMP_EBPF_CONTAINERD_BIN") ?? "";

    private Process? _process;

    private ContainerdInstance(string root, ContainerdVersion version)
    {
        Root = root;
        Version = version;
        Directory.CreateDirectory(NriPluginPath);
        Directory.CreateDirectory(Path.Join(Root, "nri", "conf.d"));
        Directory.CreateDirectory(Path.Join(Root, "cni", "bin"));
        Directory.CreateDirectory(Path.Join(Root, "cni", "net.d"));
        Directory.CreateDirectory(LogDirectory);
        File.WriteAllText(ConfigPath, ConfigToml());
        Cri = new CriConnection(CriSocket);
    }

    // unix socket paths are limited to 108 bytes: keep the root short.
    public string Root { get; }
    public string ConfigPath => Path.Join(Root, "config.toml");
    public string CriSocket => Path.Join(Root, "c.sock");
    public string NriSocket => Path.Join(Root, "nri", "nri.sock");
    public string NriPluginPath => Path.Join(Root, "nri", "plugins");
    public string LogDirectory => Path.Join(Root, "logs");
    public string ContainerdLog => Path.Join(Root, "containerd.log");

    /// <summary>Where containerd's log ends now: <see cref="ContainerdLogSinceAsync"/> reads what it wrote after.</summary>
    public long ContainerdLogLength => new FileInfo(ContainerdLog).Length;

    /// <summary>What containerd logged since <paramref name="offset"/> (a <see cref="ContainerdLogLength"/>): it keeps writing meanwhile.</summary>
    public async Task<string> ContainerdLogSinceAsync(long offset)
    {
        using var log = new FileStream(ContainerdLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        log.Seek(offset, SeekOrigin.Begin);
        return await new StreamReader(log).ReadToEndAsync();
    }
    public CriConnection Cri { get; }

    /// <summary>The running containerd's version (from <c>containerd --version</c>).</summary>
    public ContainerdVersion Version { get; }

    /// <summary>tests/native's static syscall looper, baked into the busybox image as /bin/container-probe.</summary>
    public static string ContainerProbe => Path.Join(TestPaths.RepoRoot, "tests", "native", "bin", "container-probe");
    public RuntimeService.RuntimeServiceClient Runtime => Cri.Runtime;

    /// <summary>
    /// Starts a fresh containerd and imports the test images. <paramref name="report"/> receives the containerd version
    /// first, so every test's output says which containerd it ran against.
    /// </summary>
    public static async Task<ContainerdInstance> StartAsync(Action<string> report, CancellationToken ct = default)
    {
        if (!File.Exists(ContainerProbe))
            throw new InvalidOperationException($"{ContainerProbe} is missing: build it with 'make -C tests/native' (./test.sh does)");
        foreach (var tool in new[] { "containerd", "ctr", "runc", "containerd-shim-runc-v2" })
        {
            if (!ExistsOnPath(tool))
                throw new InvalidOperationException($"'{tool}' is not installed: the containerd tier needs containerd 1.7 with NRI and runc (./test.sh installs them)"
                    + (BinDirectory.Length > 0 ? $"; SECCOMP_EBPF_CONTAINERD_BIN={BinDirectory} is searched first" : ""));
        }
        var version = ContainerdVersion.Parse(await Exec.RunAsync(Tool("containerd"), ["--version"], ct));
        report($"containerd {version} ({Tool("containerd")}, config version {version.ConfigVersion})");
        var root = Path.Join("/tmp", "sebpf-" + Guid.NewGuid().ToString("N")[..8]);
        var instance = new ContainerdInstance(root, version);
        try
        {
            await instance.StartProcessAsync(ct);
            await instance.ImportAsync(PauseImage, ["/bin/sleep", "2147483647"], ct);
            await instance.ImportAsync(BusyboxImage, ["/bin/sh"], ct);
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops containerd (its shims and containers keep running, as in production) and starts it again.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await StopProcessAsync();
        await StartProcessAsync(ct);
    }

    private async Task StartProcessAsync(CancellationToken ct)
    {
        var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec '{Tool("containerd")}' --config '{ConfigPath}' >> '{ContainerdLog}' 2>&1"])
        {
            UseShellExecute = false,
        };
        // containerd finds its shim on PATH first: a private build must run its own shim, not the system's.
        if (BinDirectory.Length > 0)
            start.Environment["PATH"] = BinDirectory + ":" + Environment.GetEnvironmentVariable("PATH");
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start containerd");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_process.HasExited)
                throw new InvalidOperationException($"containerd exited with {_process.ExitCode}; log tail:\n{Tail(ContainerdLog)}");
            if (File.Exists(CriSocket))
            {
                try
                {
                    await Runtime.VersionAsync(new VersionRequest(), cancellationToken: ct);
                    return;
                }
                catch (RpcException)
                {
                    // Not serving yet.
                }
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"containerd did not serve CRI within 30 s; log tail:\n{Tail(ContainerdLog)}");
            await Task.Delay(100, ct);
        }
    }

    private async Task StopProcessAsync()
    {
        if (_process is not null)
            await _process.StopGracefullyAsync(TimeSpan.FromSeconds(15));
    }

    private async Task ImportAsync(string tag, string[] entrypoint, CancellationToken ct)
    {
        var tarPath = Path.Join(Root, tag.Replace('/', '_').Replace(':', '_') + ".tar");
        OfflineImage.Write(tarPath, tag, entrypoint, new Dictionary<string, string> { ["/bin/container-probe"] = ContainerProbe });
        await Exec.RunAsync(Tool("ctr"), ["-a", CriSocket, "-n", "k8s.io", "images", "import", tarPath], ct);
    }

    /// <summary>
    /// Imports an OCI archive (scripts/build-image.sh's) into the k8s.io namespace; its tags are named
    /// <paramref name="baseName"/>:TAG, as a kubelet names the image the manifest gives.
    /// </summary>
    public async Task ImportOciArchiveAsync(string archive, string baseName, CancellationToken ct = default) =>
        await Exec.RunAsync(Tool("ctr"), ["-a", CriSocket, "-n", "k8s.io", "images", "import", "--base-name", baseName, archive], ct);

    /// <summary>The host's own view of a running container: its init's PID and its cgroup's inode (the cgroup id).</summary>
    public async Task<(int Pid, ulong CgroupId)> HostViewOfContainerAsync(string containerId, CancellationToken ct = default)
    {
        var status = await Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true }, cancellationToken: ct);
        using var info = System.Text.Json.JsonDocument.Parse(status.Info["info"]);
        var pid = info.RootElement.GetProperty("pid").GetInt32();
        var relative = File.ReadLines($"/proc/{pid}/cgroup").Single(l => l.StartsWith("0::", StringComparison.Ordinal))[3..];
        var mount = File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(" - ")).Where(p => p.Length == 2 && p[1].StartsWith("cgroup2 ", StringComparison.Ordinal))
            .Select(p => p[0].Split(' ')[4]).First();
        var inode = (await Exec.RunAsync("stat", ["-c", "%i", mount + relative], ct)).Trim();
        return (pid, ulong.Parse(inode));
    }

    /// <summary>Creates a host-network pod (no CNI needed) and returns its sandbox id and config.</summary>
    public async Task<(string Id, PodSandboxConfig Config)> RunPodAsync(string name, string @namespace = "default",
        IReadOnlyDictionary<string, string>? annotations = null, CancellationToken ct = default)
    {
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Namespace = @namespace, Uid = Guid.NewGuid().ToString(), Attempt = 0 },
            LogDirectory = Path.Join(LogDirectory, name),
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node },
                    Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.Unconfined },
                },
            },
        };
        foreach (var (k, v) in annotations ?? new Dictionary<string, string>())
            config.Annotations[k] = v;
        Directory.CreateDirectory(config.LogDirectory);
        var response = await Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, cancellationToken: ct);
        return (response.PodSandboxId, config);
    }

    /// <summary>Creates (not starts) a busybox container running <c>sh -c script</c> in the pod; unconfined unless <paramref name="seccomp"/> says otherwise.</summary>
    public async Task<string> CreateContainerAsync(string podId, PodSandboxConfig podConfig, string name, string script,
        IReadOnlyDictionary<string, string>? annotations = null, CancellationToken ct = default, SecurityProfile? seccomp = null)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = BusyboxImage },
            Command = { "/bin/sh" },
            Args = { "-c", script },
            LogPath = name + ".log",
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node },
                    Seccomp = seccomp ?? new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.Unconfined },
                },
            },
        };
        foreach (var (k, v) in annotations ?? new Dictionary<string, string>())
            config.Annotations[k] = v;
        var response = await Runtime.CreateContainerAsync(
            new CreateContainerRequest { PodSandboxId = podId, Config = config, SandboxConfig = podConfig }, cancellationToken: ct);
        return response.ContainerId;
    }

    /// <summary>The container's output so far (CRI log format lines, message part only).</summary>
    public string ReadContainerLog(PodSandboxConfig podConfig, string containerName)
    {
        var path = Path.Join(podConfig.LogDirectory, containerName + ".log");
        if (!File.Exists(path))
            return "";
        // "2026-11-30T10:00:00.000000000Z stdout F message"
        return string.Join('\n', File.ReadAllLines(path).Select(l => l.Split(' ', 4) is { Length: 4 } parts ? parts[3] : l));
    }

    /// <summary>Stops and removes every pod (shims outlive containerd otherwise).</summary>
    public async Task RemoveAllPodsAsync(CancellationToken ct = default)
    {
        var pods = await Runtime.ListPodSandboxAsync(new ListPodSandboxRequest(), cancellationToken: ct);
        foreach (var pod in pods.Items)
        {
            await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod.Id }, cancellationToken: ct);
            await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod.Id }, cancellationToken: ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await RemoveAllPodsAsync(timeout.Token);
            }
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException)
        {
            // Best effort; the shims are killed below either way.
        }
        await StopProcessAsync();
        Cri.Dispose();
        // Shims (and any container they still hold) name our root on their command line.
        await Exec.TryRunAsync("pkill", ["-KILL", "-f", Root]);
        await Exec.TryRunAsync("sh", ["-c", $"grep -o ' {Root}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"]);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    // Under qemu TCG everything runs ~25x slower: the VM tier raises containerd's 2 s NRI request timeout.
    private static string RequestTimeout => Environment.GetEnvironmentVariable("SECCOMP_EBPF_NRI_REQUEST_TIMEOUT") ?? "2s";

    private string ConfigToml() => Version.ConfigVersion >= 3 ? ConfigTomlVersion3() : ConfigTomlVersion2();

    // What both config versions share: this instance's paths and sockets, and NRI with its socket and timeouts stated
    // (2.x enables NRI by default; 1.7 needs it). Only the TOML quoting of the section name differs.
    private string CommonToml(int version, string nriSection) => $$"""
        version = {{version}}
        root = "{{Root}}/root"
        state = "{{Root}}/state"
        [grpc]
          address = "{{CriSocket}}"
        [ttrpc]
          address = "{{CriSocket}}.ttrpc"
        [debug]
          level = "info"
        [{{nriSection}}]
          disable = false
          disable_connections = false
          socket_path = "{{NriSocket}}"
          plugin_path = "{{NriPluginPath}}"
          plugin_config_path = "{{Root}}/nri/conf.d"
          plugin_registration_timeout = "5s"
          plugin_request_timeout = "{{RequestTimeout}}"

        """;

    private string ConfigTomlVersion2() => CommonToml(2, "plugins.\"io.containerd.nri.v1.nri\"") + $$"""
        [plugins."io.containerd.grpc.v1.cri"]
          sandbox_image = "{{PauseImage}}"
          restrict_oom_score_adj = true
          [plugins."io.containerd.grpc.v1.cri".containerd]
            snapshotter = "overlayfs"
            default_runtime_name = "runc"
            [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
              runtime_type = "io.containerd.runc.v2"
              [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                SystemdCgroup = false
          [plugins."io.containerd.grpc.v1.cri".cni]
            bin_dir = "{{Root}}/cni/bin"
            conf_dir = "{{Root}}/cni/net.d"
        """;

    // containerd 2.x: the CRI plugin is split into images and runtime plugins.
    private string ConfigTomlVersion3() => CommonToml(3, "plugins.'io.containerd.nri.v1.nri'") + $$"""
        [plugins.'io.containerd.cri.v1.images']
          snapshotter = "overlayfs"
          [plugins.'io.containerd.cri.v1.images'.pinned_images]
            sandbox = "{{PauseImage}}"
        [plugins.'io.containerd.cri.v1.runtime']
          restrict_oom_score_adj = true
          [plugins.'io.containerd.cri.v1.runtime'.containerd]
            default_runtime_name = "runc"
            [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
              runtime_type = "io.containerd.runc.v2"
              [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
                SystemdCgroup = false
          [plugins.'io.containerd.cri.v1.runtime'.cni]
            bin_dirs = ["{{Root}}/cni/bin"]
            conf_dir = "{{Root}}/cni/net.d"
        """;

    /// <summary>A containerd tool from the private prefix when one is set, else from PATH.</summary>
    private static string Tool(string name) => BinDirectory.Length > 0 && File.Exists(Path.Join(BinDirectory, name)) ? Path.Join(BinDirectory, name) : name;

    internal static string Tail(string path, int lines = 30) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(lines)) : $"({path} does not exist)";

    private static bool ExistsOnPath(string tool) =>
        (BinDirectory + ":" + (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(d => File.Exists(Path.Join(d, tool)));
}
