using System.Diagnostics;
using System.Text.Json;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// Shadow profiles through a real containerd (docs/shadow.md): a pod in mode audit, annotated with a stricter shadow ("candidate"),
/// reports exactly the syscalls the candidate would stop while nothing is stopped; `apply --promote-shadow` makes
/// the shadow the profile in force, and the next violating call is enforced. This host has no BPF LSM: the candidate's
/// ERRNO(EPERM) is planned as KILL after entry (enforcement.onUnenforceable degrade-to-kill), in the shadow
/// as after its promotion. Runs against containerd 1.7 (the e2e tier's first run), as RecordingTests does.
/// </summary>
public sealed class ShadowTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string InForce = """{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO"}]}""";
    private const string Candidate = """{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}""";
    // Busybox sh, its applets and runc's init never call personality or mkdirat (the probe is a separate static
    // binary): the shadow's denials are the probe's calls, and only those. Phase 2 waits for a second gate.
    private const string Script = "exec 2>&1; while [ ! -e /tmp/go ]; do sleep 0.05; done; "
                                  + "container-probe personality-query 1 2; container-probe mkdir-tmp 1 1; touch /tmp/done; "
                                  + "while [ ! -e /tmp/go2 ]; do sleep 0.05; done; echo phase2; container-probe mkdir-tmp 1 1; touch /tmp/done2; exec sleep 3600";

    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket) { OnUnenforceable = "degrade-to-kill" };
        _daemon = DaemonProcess.Start(_config, new Dictionary<string, string>());
        await _daemon.WaitUntilReadyAsync(Patience);
    }

    public async Task DisposeAsync()
    {
        output.WriteLine("daemon output tail:\n" + _daemon.Tail(30));
        await _daemon.DisposeAsync();
        await _containerd.DisposeAsync();
        await _config.DetachAsync();
    }

    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => DaemonCli.RunAsync(_config, args);

    private async Task<int> PidOfAsync(string containerId)
    {
        var info = await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true });
        using var doc = JsonDocument.Parse(info.Info["info"]);
        return doc.RootElement.GetProperty("pid").GetInt32();
    }

    /// <summary>Waits until the script touched <paramref name="marker"/>, or fails when the container exits first.</summary>
    private async Task WaitForMarkerAsync(string containerId, PodSandboxConfig pod, string marker)
    {
        int pid = await PidOfAsync(containerId);
        var guard = Stopwatch.StartNew();
        while (!File.Exists($"/proc/{pid}/root/tmp/{marker}"))
        {
            var status = (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status;
            Assert.True(status.State == ContainerState.ContainerRunning,
                $"container {containerId[..12]} exited ({status.ExitCode}) before /tmp/{marker}; log:\n{_containerd.ReadContainerLog(pod, "app")}");
            if (guard.Elapsed > Patience)
                throw new TimeoutException($"the script of {containerId[..12]} did not reach /tmp/{marker} (deadlock guard)");
            await Task.Delay(50);
        }
    }

    private Task<List<JsonElement>> EventsAsync(string pod) => DaemonCli.EventsAsync(_config, pod);

    private Task<JsonElement> PsRowAsync(string containerId) => DaemonCli.PsRowAsync(_config, containerId);

    [Fact]
    public async Task An_audited_pod_reports_exactly_what_its_stricter_shadow_would_deny_and_promotion_enforces_it()
    {
        _config.WriteProfile("in-force", InForce);
        _config.WriteProfile("candidate", Candidate);
        var (podId, podConfig) = await _containerd.RunPodAsync("shadowed", annotations: new Dictionary<string, string>
        {
            ["seccomp-ebpf.io/profile"] = "in-force",
            ["seccomp-ebpf.io/mode"] = "audit",
            ["seccomp-ebpf.io/shadow"] = "candidate",
        });
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "app", Script);
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });

        // 1. Under audit with the candidate as shadow: the script runs through, nothing is stopped.
        await PolicyTests.ReleaseGateAsync(_containerd, id);
        await WaitForMarkerAsync(id, podConfig, "done");
        string log = _containerd.ReadContainerLog(podConfig, "app");
        Assert.Equal(2, log.Split('\n').Count(l => l.Contains("personality-query ret=")));
        Assert.Contains("mkdir-tmp ret=0", log);

        // exactly the candidate's would-be denials, marked shadow; the profile in force audited its own (personality)
        var events = await EventsAsync("default/shadowed");
        var shadow = events.Where(e => e.GetProperty("mode").GetString() == "shadow").ToList();
        output.WriteLine(string.Join("\n", events.Select(e => e.GetRawText())));
        Assert.Equal(["mkdirat", "personality", "personality"], shadow.Select(e => e.GetProperty("syscall").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(shadow, e => Assert.Equal("KillProcess (degraded)", e.GetProperty("action").GetString())); // ERRNO(EPERM) as it would be enforced here
        Assert.Equal(["personality", "personality"], events.Where(e => e.GetProperty("mode").GetString() == "audit").Select(e => e.GetProperty("syscall").GetString()));
        Assert.Equal(5, events.Count); // nothing else: 3 shadow, 2 audit

        var row = await PsRowAsync(id);
        Assert.Equal(("in-force", "audit"), (row.GetProperty("profile").GetString(), row.GetProperty("mode").GetString()));
        var shadowRow = row.GetProperty("shadow");
        Assert.Equal("candidate", shadowRow.GetProperty("profile").GetString());
        Assert.Equal((3UL, 3UL), (shadowRow.GetProperty("denials").GetUInt64(), shadowRow.GetProperty("differences").GetUInt64()));
        var (_, table, _) = await CliAsync("ps");
        Assert.Contains("shadow candidate: 3 would-be denial(s)", table);

        // 2. Promotion: the shadow is the profile in force, enforced; the shadow is gone.
        var (code, promoted, promoteErr) = await CliAsync("apply", "--promote-shadow", "--pod", "default/shadowed");
        Assert.True(code == 0, promoteErr);
        output.WriteLine(promoted);
        row = await PsRowAsync(id);
        Assert.Equal(("candidate", "enforce", "enforced"), (row.GetProperty("profile").GetString(), row.GetProperty("mode").GetString(), row.GetProperty("state").GetString()));
        Assert.False(row.TryGetProperty("shadow", out _), row.GetRawText());
        var (again, _, againErr) = await CliAsync("apply", "--promote-shadow", "--container", id);
        Assert.Equal(1, again);
        Assert.Contains("has no shadow in place to promote", againErr);

        // 3. The next violating call is enforced: the probe is killed at mkdirat (the shell, its parent, goes on), and reported.
        int pid = await PidOfAsync(id);
        await File.WriteAllTextAsync($"/proc/{pid}/root/tmp/go2", "");
        await WaitForMarkerAsync(id, podConfig, "done2");
        log = _containerd.ReadContainerLog(podConfig, "app");
        string phase2 = log[(log.IndexOf("phase2", StringComparison.Ordinal) + "phase2".Length)..];
        Assert.DoesNotContain("mkdir-tmp ret=", phase2);
        var enforced = (await EventsAsync("default/shadowed")).Where(e => e.GetProperty("mode").GetString() == "enforce").ToList();
        var kill = Assert.Single(enforced);
        Assert.Equal(("mkdirat", "KillProcess (degraded)"), (kill.GetProperty("syscall").GetString(), kill.GetProperty("action").GetString()));
    }
}
