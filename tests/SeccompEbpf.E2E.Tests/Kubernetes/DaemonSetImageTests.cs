using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// The DaemonSet as a node runs it: the image scripts/build-image.sh builds, imported into a real containerd, run
/// from config/kubernetes/daemonset.yaml's pod spec translated to CRI calls (DaemonSetPod), beside annotated
/// neighbour pods. The node's host paths live under the containerd instance's root, except the kernel's own
/// (/sys/kernel/btf, /sys/fs/cgroup); /sys/fs/bpf is a private bpffs mounted there. A fake API server stands in for
/// the cluster: the daemon reads it through a kubeconfig put beside the ConfigMap's config.json.
/// </summary>
[Trait("Containerd", "every")]
public sealed class DaemonSetImageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string NodeName = "node-under-test";
    private const string Probe = "exec container-probe personality-query 20";
    private const string LogPersonality = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_LOG"}]}""";
    private const string KillPersonality = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_KILL_PROCESS"}]}""";
    // Prints UNPROTECTED whenever personality(2) returns instead of killing the probe.
    private const string GuardLoop = "while true; do if container-probe personality-query 1 >/dev/null 2>&1; then echo UNPROTECTED; else echo killed; fi; sleep 0.2; done";

    private static readonly Lazy<Task<string>> ImageArchive = new(BuildImageAsync);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private ContainerdInstance _containerd = null!;
    private FakeKubernetesApiServer _api = null!;
    private DaemonSetPod _pod = null!;
    private DaemonSetPod.Node _node = null!;
    private string _imageName = "";
    private readonly List<PodSandboxConfig> _daemonPods = [];

    private string NodeRoot => Path.Join(_containerd.Root, "node");
    private string ControlSocket => Path.Join(_node.HostPath("/run/seccomp-ebpf"), "control.sock");

    /// <summary>Builds the image once per test run; build-image.sh itself skips the build when the sources did not change.</summary>
    private static async Task<string> BuildImageAsync()
    {
        var output = Path.Join(TestPaths.RepoRoot, ".build", "image");
        var (code, stdout, stderr) = await Exec.TryRunAsync(Path.Join(TestPaths.RepoRoot, "scripts", "build-image.sh"), ["--out", output]);
        if (code != 0)
            throw new InvalidOperationException($"scripts/build-image.sh failed ({code}):\n{stdout}\n{stderr}");
        Console.WriteLine(stdout);
        return Path.Join(output, "seccomp-ebpf-latest.oci.tar");
    }

    public async Task InitializeAsync()
    {
        var objects = LoadManifests();
        _pod = DaemonSetPod.From(objects);

        var archive = await ImageArchive.Value;
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        // The manifest's `image: seccomp-ebpf:latest`, named as a kubelet names it for the CRI.
        var (repository, tag) = (_pod.Container.Image.Split(':')[0], _pod.Container.Image.Split(':')[1]);
        Assert.Equal("latest", tag); // build-image.sh's tag
        await _containerd.ImportOciArchiveAsync(archive, $"docker.io/library/{repository}");
        _imageName = $"docker.io/library/{repository}:{tag}";
        _api = FakeKubernetesApiServer.Start();

        _node = new DaemonSetPod.Node(NodeName, Path.Join(_containerd.LogDirectory, "daemonset"), HostPath, ConfigMapDirectory);
        Directory.CreateDirectory(HostPath("/sys/fs/bpf"));
        // Bidirectional propagation needs a shared mount at the source.
        await Exec.RunAsync("mount", ["-t", "bpf", "bpf", HostPath("/sys/fs/bpf")]);
        await Exec.RunAsync("mount", ["--make-shared", HostPath("/sys/fs/bpf")]);
        var profiles = Path.Join(HostPath("/etc/seccomp-ebpf"), "profiles");
        Directory.CreateDirectory(profiles);
        File.WriteAllText(Path.Join(profiles, "log-personality.json"), LogPersonality);
        File.WriteAllText(Path.Join(profiles, "kill-personality.json"), KillPersonality);

        foreach (var configMap in objects.OfType<V1ConfigMap>().Where(c => c.Metadata.NamespaceProperty == _pod.Namespace))
        {
            var directory = ConfigMapDirectory(configMap.Metadata.Name);
            Directory.CreateDirectory(directory);
            foreach (var (key, value) in configMap.Data)
                File.WriteAllText(Path.Join(directory, key), value);
        }
        // In a cluster the kubelet mounts the service account's credentials; here the daemon gets a kubeconfig for
        // the fake API server, beside its config (the only change to the ConfigMap's config.json).
        var configArgument = _pod.Container.Args[_pod.Container.Args.IndexOf("--config") + 1];
        var configMount = _pod.Container.VolumeMounts.Single(m => configArgument.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        var configDirectory = ConfigMapDirectory(_pod.Spec.Volumes.Single(v => v.Name == configMount.Name).ConfigMap.Name);
        var configFile = Path.Join(configDirectory, Path.GetFileName(configArgument));
        _api.WriteKubeconfig(Path.Join(configDirectory, "kubeconfig"), _pod.Namespace);
        var config = JsonNode.Parse(File.ReadAllText(configFile))!.AsObject();
        config["kubernetes"]!["kubeconfig"] = Path.Join(configMount.MountPath, "kubeconfig");
        File.WriteAllText(configFile, config.ToJsonString());
    }

    private static List<object> LoadManifests() =>
        Directory.GetFiles(Path.Join(TestPaths.RepoRoot, "config", "kubernetes"), "*.yaml").Order()
            .SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f))).ToList();

    /// <summary>Where the manifest's host path is on this test's node.</summary>
    private string HostPath(string path) => path switch
    {
        "/sys/kernel/btf" or "/sys/fs/cgroup" => path,
        "/var/run/nri" => Path.GetDirectoryName(_containerd.NriSocket)!,
        _ => Path.Join(NodeRoot, path),
    };

    private string ConfigMapDirectory(string name) => Path.Join(NodeRoot, "configmaps", name);

    public async Task DisposeAsync()
    {
        foreach (var pod in _daemonPods)
            output.WriteLine($"daemon pod {pod.Metadata.Name} log tail:\n{string.Join('\n', _containerd.ReadContainerLog(pod, _pod.Container.Name).Split('\n').TakeLast(30))}");
        // Removes every pod, then unmounts everything under its root, the private bpffs included (its pins go with it).
        if (_containerd is not null)
            await _containerd.DisposeAsync();
        if (_api is not null)
            await _api.DisposeAsync();
    }

    [Fact]
    public async Task The_manifests_pod_registers_over_NRI_enforces_neighbours_and_reports_their_host_pids_and_cgroups()
    {
        var daemon = await StartDaemonPodAsync(attempt: 0);
        Assert.Contains(DaemonLog(daemon.Sandbox), e => e.Message.Contains("NRI connected to containerd", StringComparison.Ordinal));
        // NODE_NAME reached the daemon through the downward API translation. The pod list runs beside the NRI
        // registration that readiness reports, so it may come a little after the pod is ready.
        var deadline = DateTime.UtcNow + Patience;
        while (!DaemonLog(daemon.Sandbox).Any(e => e.Message.StartsWith($"Listed pods on node {NodeName}", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no 'Listed pods on node {NodeName}' in the daemon's log within {Patience}");
            await Task.Delay(100);
        }
        foreach (var probe in new[] { _pod.Container.LivenessProbe, _pod.Container.ReadinessProbe })
            Assert.Equal(200, await ProbeAsync(probe));

        var logger = await RunNeighbourAsync("logger", Probe, "log-personality");
        var killer = await RunNeighbourAsync("killer", "sleep 0.5; " + Probe, "kill-personality");

        var logged = await WaitForEventsAsync("default/logger", "Log");
        Assert.All(logged, e => Assert.Equal(logger.ContainerId, e.GetProperty("containerId").GetString()));
        Assert.Equal(137, (await WaitForExitAsync(killer.ContainerId)).ExitCode); // 128 + SIGKILL
        await WaitForEventsAsync("default/killer", "KillProcess");

        // The containerized daemon sees host PIDs and host cgroup ids: the same as the host's own view.
        var (pid, cgroupId) = await _containerd.HostViewOfContainerAsync(logger.ContainerId);
        var row = (await PsAsync()).Single(r => r.GetProperty("containerId").GetString() == logger.ContainerId);
        output.WriteLine($"logger: host pid {pid}, cgroup {cgroupId}; daemon reports {row}");
        Assert.Equal(pid, row.GetProperty("pid").GetInt32());
        Assert.Equal(cgroupId, row.GetProperty("cgroupId").GetUInt64());
        Assert.Equal("enforced", row.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Replacing_the_daemon_pod_leaves_a_kill_profiled_neighbour_enforced_throughout_and_the_new_pod_adopts_it()
    {
        var old = await StartDaemonPodAsync(attempt: 0);
        var guarded = await RunNeighbourAsync("guarded", GuardLoop, "kill-personality");
        await WaitForKillsAsync(guarded.Pod, 2);

        // A rolling update with maxUnavailable 1: the old pod stops and goes, then the new one starts.
        await _containerd.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = old.ContainerId, Timeout = _pod.StopTimeoutSeconds });
        await _containerd.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = old.PodId });
        await _containerd.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = old.PodId });
        var killsWithoutDaemon = Kills(guarded.Pod);
        // No daemon pod at all now: the pinned state alone keeps killing the probe.
        await WaitForKillsAsync(guarded.Pod, killsWithoutDaemon + 3);

        var replacement = await StartDaemonPodAsync(attempt: 0);
        var adopted = DaemonLog(replacement.Sandbox).Where(e => e.Message.Contains("bindings adopted", StringComparison.Ordinal)).ToList();
        Assert.True(adopted.Count > 0 && adopted.All(e => !e.Message.Contains(" 0 bindings adopted", StringComparison.Ordinal)),
            $"the new daemon pod did not adopt the pinned bindings: {string.Join(" | ", adopted.Select(e => e.Message))}");
        var killsAfterUpgrade = Kills(guarded.Pod);
        await WaitForKillsAsync(guarded.Pod, killsAfterUpgrade + 3);

        var row = (await PsAsync()).Single(r => r.GetProperty("containerId").GetString() == guarded.ContainerId);
        Assert.Equal("enforced", row.GetProperty("state").GetString());
        Assert.Equal("kill-personality", row.GetProperty("profile").GetString());
        var neighbourLog = _containerd.ReadContainerLog(guarded.Pod, "probe");
        output.WriteLine($"guard loop: {Kills(guarded.Pod)} probes killed, {killsWithoutDaemon} before the old pod went, {killsAfterUpgrade} when the new one was ready");
        Assert.DoesNotContain("UNPROTECTED", neighbourLog);
        Assert.Equal(ContainerState.ContainerRunning,
            (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = guarded.ContainerId })).Status.State);
    }

    private async Task<(string PodId, PodSandboxConfig Sandbox, string ContainerId)> StartDaemonPodAsync(uint attempt)
    {
        var sandbox = _pod.Sandbox(_node, Guid.NewGuid().ToString(), attempt);
        _daemonPods.Add(sandbox);
        var podId = (await _containerd.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = sandbox })).PodSandboxId;
        var container = _pod.ContainerConfig(_node, sandbox, _imageName);
        var containerId = (await _containerd.Runtime.CreateContainerAsync(
            new CreateContainerRequest { PodSandboxId = podId, Config = container, SandboxConfig = sandbox })).ContainerId;
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });

        // Ready as the kubelet would see it: the readiness probe answers 200.
        var deadline = DateTime.UtcNow + Patience;
        while (await ProbeAsync(_pod.Container.ReadinessProbe) != 200)
        {
            var state = (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status;
            if (state.State == ContainerState.ContainerExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"the daemon pod did not become ready ({state.State}, exit {state.ExitCode}); its log:\n"
                    + _containerd.ReadContainerLog(sandbox, _pod.Container.Name));
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, _pod.Container.ReadinessProbe.PeriodSeconds ?? 1)));
        }
        return (podId, sandbox, containerId);
    }

    /// <summary>An HTTP GET as the kubelet's probe does (hostNetwork: the node's loopback reaches the pod); 0 when nothing answers.</summary>
    private static async Task<int> ProbeAsync(V1Probe probe)
    {
        try
        {
            using var response = await Http.GetAsync($"http://127.0.0.1:{probe.HttpGet.Port.Value}{probe.HttpGet.Path}");
            return (int)response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return 0;
        }
    }

    private List<DaemonLogEntry> DaemonLog(PodSandboxConfig sandbox) =>
        _containerd.ReadContainerLog(sandbox, _pod.Container.Name).Split('\n').Select(DaemonProcess.Parse).OfType<DaemonLogEntry>().ToList();

    private async Task<(PodSandboxConfig Pod, string ContainerId)> RunNeighbourAsync(string name, string script, string profile)
    {
        var annotations = new Dictionary<string, string> { ["seccomp-ebpf.io/profile"] = profile };
        var (podId, podConfig) = await _containerd.RunPodAsync(name, annotations: annotations);
        _api.UpsertPod("default", name, podConfig.Metadata.Uid, NodeName, annotations);
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", script);
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return (podConfig, id);
    }

    private int Kills(PodSandboxConfig pod) =>
        _containerd.ReadContainerLog(pod, "probe").Split('\n').Count(l => l == "killed");

    private async Task WaitForKillsAsync(PodSandboxConfig pod, int count)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (Kills(pod) < count)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the guard loop counted {Kills(pod)} kills, not {count}; its log:\n{_containerd.ReadContainerLog(pod, "probe")}");
            await Task.Delay(100);
        }
    }

    private async Task<ContainerStatus> WaitForExitAsync(string containerId)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var status = (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status;
            if (status.State == ContainerState.ContainerExited)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container {containerId[..12]} still {status.State}");
            await Task.Delay(50);
        }
    }

    /// <summary>The host's CLI against the containerized daemon's control socket (the manifest's /run/seccomp-ebpf mount).</summary>
    private async Task<string> CliAsync(params string[] args)
    {
        var (code, stdout, stderr) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, [.. args, "--socket", ControlSocket]);
        Assert.True(code == 0, $"seccomp-ebpf {string.Join(' ', args)} failed ({code}): {stderr}");
        return stdout;
    }

    private async Task<List<JsonElement>> PsAsync() =>
        JsonDocument.Parse(await CliAsync("ps", "--json")).RootElement.EnumerateArray().Select(r => r.Clone()).ToList();

    private async Task<List<JsonElement>> WaitForEventsAsync(string pod, string action)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var events = (await CliAsync("events", "--json", "--pod", pod)).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => JsonDocument.Parse(l).RootElement.Clone())
                .Where(e => e.GetProperty("syscall").GetString() == "personality" && e.GetProperty("action").GetString() == action).ToList();
            if (events.Count > 0)
                return events;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no personality → {action} event for {pod}");
            await Task.Delay(200);
        }
    }
}
