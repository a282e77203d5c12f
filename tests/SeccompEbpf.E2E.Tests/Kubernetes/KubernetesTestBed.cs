using System.Text.Json;
using System.Text.Json.Nodes;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// One real containerd, one FAKE Kubernetes API server and the real daemon pointed at both (its own config, pin root,
/// control socket and profile directory, like PolicyTests). Pods are created through the CRI with the same
/// namespace, name and uid that the fake API server reports.
/// </summary>
public abstract class KubernetesTestBed(ITestOutputHelper output) : IAsyncLifetime
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    protected const string NodeName = "node-under-test";
    protected const string DaemonNamespace = "seccomp-ebpf";
    protected const string Syscall = "personality";
    // personality(2): neither busybox sh nor runc's init calls it, so only the probe's own calls are judged.
    protected const string Probe = "exec container-probe personality-query 20";
    protected const string GatedProbe = "while [ ! -e /tmp/go ]; do sleep 0.05; done; " + Probe;
    protected const string LogPersonality = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_LOG"}]}""";
    protected const string KillPersonality = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_KILL_PROCESS"}]}""";
    protected static readonly IReadOnlyDictionary<string, string> ProfilesLabel = new Dictionary<string, string> { ["seccomp-ebpf.io/profiles"] = "true" };

    protected ITestOutputHelper Output { get; } = output;
    protected ContainerdInstance Containerd { get; private set; } = null!;
    protected FakeKubernetesApiServer Api { get; private set; } = null!;
    protected DaemonConfig Config { get; private set; } = null!;
    protected DaemonProcess Daemon { get; private set; } = null!;

    /// <summary>Extra settings for the kubernetes and metrics sections, and the policy's default profile.</summary>
    protected virtual bool UseFakeApiServer => true;
    protected virtual string? DefaultProfile => null;
    protected virtual int? MetricsPort => null;
    protected virtual string? OnUnenforceable => "refuse"; // null: the daemon's default
    protected virtual int EventsPerMinute => 120;

    /// <summary>Runs before the daemon starts (profiles, ConfigMaps).</summary>
    protected virtual void Prepare()
    {
    }

    public async Task InitializeAsync()
    {
        Containerd = await ContainerdInstance.StartAsync(Output.WriteLine);
        Api = FakeKubernetesApiServer.Start();
        Config = new DaemonConfig(Containerd.Root, Containerd.NriSocket) { DefaultProfile = DefaultProfile, OnUnenforceable = OnUnenforceable };
        WriteProfile("log-personality", LogPersonality);
        WriteProfile("kill-personality", KillPersonality);
        Prepare();
        Daemon = DaemonProcess.Start("--config", WriteConfig());
        await Daemon.WaitUntilReadyAsync(Patience);
        if (UseFakeApiServer)
            await Daemon.WaitForAsync(e => e.Message.StartsWith("Listed pods on node", StringComparison.Ordinal), Patience, "the first pod list");
    }

    public async Task DisposeAsync()
    {
        // Initialization may have failed part way: dispose what exists.
        if (Daemon is not null)
        {
            Output.WriteLine("daemon output tail:\n" + Daemon.Tail(40));
            await Daemon.DisposeAsync();
        }
        if (Containerd is not null)
            await Containerd.DisposeAsync();
        if (Api is not null)
            await Api.DisposeAsync();
        if (Config is not null)
            await Config.DetachAsync();
    }

    /// <summary>The daemon's configuration: DaemonConfig's, plus the kubernetes and metrics sections.</summary>
    private string WriteConfig()
    {
        var config = JsonNode.Parse(File.ReadAllText(Config.Write()))!.AsObject();
        config["kubernetes"] = UseFakeApiServer
            ? new JsonObject
            {
                ["enabled"] = "true",
                ["kubeconfig"] = Api.WriteKubeconfig(Path.Join(Config.Root, "kubeconfig"), DaemonNamespace),
                ["nodeName"] = NodeName,
                ["namespace"] = DaemonNamespace,
                ["watchTimeoutSeconds"] = 60,
                ["eventsPerMinute"] = EventsPerMinute,
            }
            : new JsonObject { ["enabled"] = "auto" };
        if (MetricsPort is { } port)
            config["metrics"] = new JsonObject { ["enabled"] = true, ["listenAddress"] = "127.0.0.1", ["port"] = port };
        var path = Path.Join(Config.Root, "seccomp-ebpf-kubernetes.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    protected void WriteProfile(string name, string json)
    {
        var path = Path.Join(Config.ProfileDirectory, name + ".json");
        File.WriteAllText(path + ".tmp", json);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    protected static Dictionary<string, string> Profile(string name) => new() { ["seccomp-ebpf.io/profile"] = name };

    /// <summary>A pod known to the fake API server (on this node) and created through the CRI with the same identity.</summary>
    protected sealed record TestPod(string Namespace, string Name, string Uid, string PodId, PodSandboxConfig Config, string ContainerId);

    protected async Task<TestPod> RunPodAsync(string name, string script, Dictionary<string, string> annotations, bool inApi = true, bool start = true)
    {
        var uid = Guid.NewGuid().ToString();
        if (inApi)
            Api.UpsertPod("default", name, uid, NodeName, annotations);
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Namespace = "default", Uid = uid, Attempt = 0 },
            LogDirectory = Path.Join(Containerd.LogDirectory, name),
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node },
                    Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.Unconfined },
                },
            },
        };
        foreach (var (k, v) in annotations)
            config.Annotations[k] = v;
        Directory.CreateDirectory(config.LogDirectory);
        var podId = (await Containerd.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var containerId = await Containerd.CreateContainerAsync(podId, config, "probe", script);
        if (start)
            await Containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        return new TestPod("default", name, uid, podId, config, containerId);
    }

    protected async Task<int> PidOfAsync(string containerId)
    {
        var status = await Containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true });
        using var info = JsonDocument.Parse(status.Info["info"]);
        return info.RootElement.GetProperty("pid").GetInt32();
    }

    protected async Task ReleaseGateAsync(string containerId) =>
        await File.WriteAllTextAsync($"/proc/{await PidOfAsync(containerId)}/root/tmp/go", "");

    protected async Task<ContainerStatus> WaitForExitAsync(string containerId)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var status = (await Containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status;
            if (status.State == ContainerState.ContainerExited)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container {containerId[..12]} still {status.State} after {Patience.TotalSeconds} s; daemon:\n{Daemon.Tail(30)}");
            await Task.Delay(20);
        }
    }

    protected async Task<ContainerState> StateOfAsync(string containerId) =>
        (await Containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status.State;

    protected async Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) =>
        await Exec.TryRunAsync(DaemonProcess.ExecutablePath, [.. args, "--socket", Config.ControlSocket]);

    protected async Task<List<JsonElement>> SyscallEventsAsync(string pod)
    {
        var (code, stdout, stderr) = await CliAsync("events", "--json", "--pod", pod);
        Assert.True(code == 0, $"events failed: {stderr}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    protected async Task WaitForSyscallEventAsync(string pod, string action, DateTimeOffset? after = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if ((await SyscallEventsAsync(pod)).Any(e => e.GetProperty("syscall").GetString() == Syscall && e.GetProperty("action").GetString() == action
                    && (after is null || e.GetProperty("time").GetDateTimeOffset() > after)))
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no {Syscall} → {action} event for pod {pod}; daemon:\n{Daemon.Tail(30)}");
            await Task.Delay(100);
        }
    }

    protected async Task<JsonElement> PsRowAsync(string containerId)
    {
        var (code, ps, stderr) = await CliAsync("ps", "--json");
        Assert.True(code == 0, stderr);
        return JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == containerId).Clone();
    }

    /// <summary>Waits until the fake API server has received an Event matching <paramref name="predicate"/>.</summary>
    protected async Task<JsonObject> WaitForKubernetesEventAsync(Func<JsonObject, bool> predicate, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (Api.Events.FirstOrDefault(predicate) is { } hit)
                return hit;
            if (DateTime.UtcNow > deadline)
            {
                var seen = string.Join('\n', Api.Events.Select(e => $"{e["reason"]} {e["involvedObject"]?.ToJsonString()} {e["message"]}"));
                throw new TimeoutException($"the fake API server received no Event {what}; received:\n{seen}\ndaemon:\n{Daemon.Tail(30)}");
            }
            await Task.Delay(50);
        }
    }

    protected static bool On(JsonObject e, string kind, string @namespace, string name, string? uid = null) =>
        e["involvedObject"]?["kind"]?.GetValue<string>() == kind &&
        e["involvedObject"]?["namespace"]?.GetValue<string>() == @namespace &&
        e["involvedObject"]?["name"]?.GetValue<string>() == name &&
        (uid is null || e["involvedObject"]?["uid"]?.GetValue<string>() == uid);

    protected static string Reason(JsonObject e) => e["reason"]?.GetValue<string>() ?? "";

    protected static string Message(JsonObject e) => e["message"]?.GetValue<string>() ?? "";
}
