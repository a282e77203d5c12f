using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// Policies follow containers: annotations select profiles, edits and `apply` change running containers, the
/// daemon's restart keeps them enforced. Real containerd, real BPF in this host's kernel (LOG and KILL; ERRNO is the
/// qemu tier's), the real CLI against the daemon's control socket.
/// </summary>
[Trait("Containerd", "every")]
public sealed class PolicyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    // personality(2): neither busybox sh nor runc's init calls it, so only the probe's own calls are judged.
    private const string Syscall = "personality";
    private const string Probe = "exec container-probe personality-query 20";
    private const string LogPersonality = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_LOG"}]}""";
    internal const string KillPersonality = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_KILL_PROCESS"}]}""";
    // The container waits for /tmp/go (created by the test through /proc/PID/root) before it calls personality.
    internal const string GatedProbe = "while [ ! -e /tmp/go ]; do sleep 0.05; done; " + Probe;

    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket);
        WriteProfile("log-personality", LogPersonality);
        WriteProfile("kill-personality", KillPersonality);
        await StartDaemonAsync();
    }

    public async Task DisposeAsync()
    {
        output.WriteLine("daemon output tail:\n" + _daemon.Tail(30));
        await _daemon.DisposeAsync();
        await _containerd.DisposeAsync();
        await _config.DetachAsync();
    }

    /// <summary>Replaces the daemon with one running a TestHooks fault injection (test-only; the daemon logs it as such).</summary>
    private async Task RestartDaemonWithHookAsync(string hook, string value, bool waitUntilReady)
    {
        await _daemon.DisposeAsync();
        if (waitUntilReady)
            await StartDaemonAsync(new Dictionary<string, string> { [hook] = value });
        else
            _daemon = DaemonProcess.Start(_config, new Dictionary<string, string> { [hook] = value });
    }

    private async Task StartDaemonAsync(IReadOnlyDictionary<string, string>? environment = null)
    {
        _daemon = DaemonProcess.Start(_config, environment ?? new Dictionary<string, string>());
        await _daemon.WaitUntilReadyAsync(Patience);
    }

    private void WriteProfile(string name, string json) => _config.WriteProfile(name, json);

    private async Task<(string PodId, PodSandboxConfig Pod, string ContainerId)> RunAsync(string pod, string script, Dictionary<string, string>? annotations = null)
    {
        var (podId, podConfig) = await _containerd.RunPodAsync(pod, annotations: annotations);
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", script);
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return (podId, podConfig, id);
    }

    private static Dictionary<string, string> Profile(string name) => new() { ["seccomp-ebpf.io/profile"] = name };

    /// <summary>Lets a container running <see cref="GatedProbe"/> go on to call personality.</summary>
    internal static async Task ReleaseGateAsync(ContainerdInstance containerd, string containerId)
    {
        var status = await containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true });
        using var info = JsonDocument.Parse(status.Info["info"]);
        await File.WriteAllTextAsync($"/proc/{info.RootElement.GetProperty("pid").GetInt32()}/root/tmp/go", "");
    }

    private Task ReleaseGateAsync(string containerId) => ReleaseGateAsync(_containerd, containerId);

    private async Task<ContainerStatus> WaitForExitAsync(string containerId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status;
            if (status.State == ContainerState.ContainerExited)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container {containerId[..12]} still {status.State} after {timeout.TotalSeconds} s; daemon:\n{_daemon.Tail(20)}");
            await Task.Delay(50);
        }
    }

    private async Task<ContainerState> StateOfAsync(string containerId) =>
        (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status.State;

    private async Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) =>
        await Exec.TryRunAsync(DaemonProcess.ExecutablePath, [.. args, "--socket", _config.ControlSocket]);

    private async Task<List<JsonElement>> EventsAsync(string pod)
    {
        var (code, stdout, stderr) = await CliAsync("events", "--json", "--pod", pod);
        Assert.True(code == 0, $"events failed: {stderr}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    private async Task<List<JsonElement>> WaitForEventsAsync(string pod, Func<JsonElement, bool> predicate, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var events = (await EventsAsync(pod)).Where(predicate).ToList();
            if (events.Count > 0)
                return events;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no event {what} for pod {pod}; daemon:\n{_daemon.Tail(20)}");
            await Task.Delay(100);
        }
    }

    private static bool Is(JsonElement e, string syscall, string action) =>
        e.GetProperty("syscall").GetString() == syscall && e.GetProperty("action").GetString() == action;

    [Fact]
    public async Task Annotated_pods_are_logged_or_killed_and_an_unannotated_pod_is_untouched()
    {
        var logger = await RunAsync("logger", Probe, Profile("log-personality"));
        var killer = await RunAsync("killer", "sleep 0.5; " + Probe, Profile("kill-personality"));
        var free = await RunAsync("free", Probe);

        var logged = await WaitForEventsAsync("default/logger", e => Is(e, Syscall, "Log"), "personality → Log");
        Assert.All(logged, e =>
        {
            Assert.Equal("logger", e.GetProperty("pod").GetString());
            Assert.Equal("probe", e.GetProperty("container").GetString());
            Assert.Equal(logger.ContainerId, e.GetProperty("containerId").GetString());
            Assert.Equal("container-probe", e.GetProperty("comm").GetString());
            Assert.Equal("x86_64", e.GetProperty("arch").GetString());
        });

        var exited = await WaitForExitAsync(killer.ContainerId, Patience);
        Assert.Equal(137, exited.ExitCode); // 128 + SIGKILL
        Assert.Contains(await EventsAsync("default/killer"), e => Is(e, Syscall, "KillProcess"));

        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(free.ContainerId));
        Assert.Empty(await EventsAsync("default/free"));
        Assert.Contains("personality-query ret=", _containerd.ReadContainerLog(free.Pod, "probe"));

        var (code, ps, _) = await CliAsync("ps", "--json");
        Assert.Equal(0, code);
        var rows = JsonDocument.Parse(ps).RootElement.EnumerateArray().ToList();
        var loggerRow = rows.Single(r => r.GetProperty("containerId").GetString() == logger.ContainerId);
        Assert.Equal("log-personality", loggerRow.GetProperty("profile").GetString());
        Assert.Equal("enforced", loggerRow.GetProperty("state").GetString());
        Assert.Equal("unmanaged", rows.Single(r => r.GetProperty("containerId").GetString() == free.ContainerId).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_RuntimeDefault_pod_whose_profile_the_floor_covers_is_exact_by_kernel_seccomp_and_attaches_no_sys_enter()
    {
        // Kubernetes' RuntimeDefault: containerd writes its default profile into the spec and runc installs it. Docker's
        // default plus the newer syscalls containerd's RuntimeDefault allows (cachestat, fchmodat2, map_shadow_stack, the futex2
        // calls; the fixture predates them) denies nothing containerd's (1.7: with io_uring; 2.x: without) lets through.
        var docker = JsonNode.Parse(File.ReadAllText(Path.Join(TestPaths.RepoRoot, "tests", "Shared", "profiles", "docker-default.json")))!;
        var allowList = docker["syscalls"]!.AsArray().First(r => (string?)r!["action"] == "SCMP_ACT_ALLOW" && r!["args"] is null && r!["includes"] is null)!["names"]!.AsArray();
        foreach (string added in new[] { "cachestat", "fchmodat2", "futex_requeue", "futex_wait", "futex_wake", "map_shadow_stack" })
            allowList.Add(added);
        WriteProfile("docker-default", docker.ToJsonString());
        var (podId, podConfig) = await _containerd.RunPodAsync("floored", annotations: Profile("docker-default"));
        var floored = await _containerd.CreateContainerAsync(podId, podConfig, "probe", "unshare -U true; echo unshare=$?; sleep 30",
            seccomp: new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.RuntimeDefault });
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = floored });
        string sysEnterLink = Path.Join(_config.PinRoot, "links", "handle_sys_enter");

        var row = await PsRowAsync(floored);
        Assert.Equal("enforced", row.GetProperty("state").GetString());
        var x = row.GetProperty("exactness");
        output.WriteLine($"RuntimeDefault + docker-default: {x.GetProperty("summary").GetString()}");
        Assert.True(x.GetProperty("kernelSeccomp").GetInt32() > 0);
        Assert.Equal(0, x.GetProperty("notPrevented").GetInt32());
        Assert.Equal(0, x.GetProperty("afterEntry").GetInt32());
        Assert.Equal(0, x.GetProperty("refused").GetInt32());
        Assert.False(x.GetProperty("needsSysEnter").GetBoolean());
        Assert.Contains("kernel seccomp", x.GetProperty("summary").GetString());
        Assert.False(File.Exists(sysEnterLink), "sys_enter is attached although the only binding's floor stops everything its profile denies");
        var (code, text, _) = await CliAsync("ps");
        Assert.Equal(0, code);
        Assert.Contains("no sys_enter", text);
        // the kernel's own filter answers: unshare fails (EPERM) before the BPF programs could see it
        await WaitForLogAsync(podConfig, "probe", "unshare=1");

        // an unconfined container has no floor: its binding needs sys_enter, and gets it
        var unconfined = await RunAsync("unfloored", "sleep 30", Profile("log-personality"));
        var other = (await PsRowAsync(unconfined.ContainerId)).GetProperty("exactness");
        Assert.True(other.GetProperty("needsSysEnter").GetBoolean());
        Assert.Equal(0, other.GetProperty("kernelSeccomp").GetInt32());
        Assert.True(File.Exists(sysEnterLink));
        await _containerd.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = unconfined.ContainerId, Timeout = 0 });
        await _containerd.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = unconfined.ContainerId });
        var deadline = DateTime.UtcNow + Patience;
        while (File.Exists(sysEnterLink) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.False(File.Exists(sysEnterLink), "sys_enter stays attached after the last binding that needs it went away");
        Assert.Equal("enforced", (await PsRowAsync(floored)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task RuntimeDefault_with_runtime_default_costs_nothing_where_containerds_default_blocks_io_uring()
    {
        var (podId, podConfig) = await _containerd.RunPodAsync("rd", annotations: Profile("runtime/default"));
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", "sleep 30",
            seccomp: new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.RuntimeDefault });
        var start = _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }).ResponseAsync;
        if (_containerd.Version.Major < 2)
        {
            // containerd 1.7's RuntimeDefault still allows io_uring, which runtime/default denies: under this test's
            // onUnenforceable refuse (no BPF LSM here) the start is vetoed, naming it
            var veto = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => start);
            Assert.Contains("Errno(1) for io_uring_setup", veto.Status.Detail);
            return;
        }
        await start;
        var x = (await PsRowAsync(id)).GetProperty("exactness");
        output.WriteLine($"containerd {_containerd.Version}: RuntimeDefault + runtime/default: {x.GetProperty("summary").GetString()}");
        Assert.True(x.GetProperty("kernelSeccomp").GetInt32() > 0);
        Assert.Equal(0, x.GetProperty("notPrevented").GetInt32() + x.GetProperty("afterEntry").GetInt32() + x.GetProperty("refused").GetInt32());
        Assert.False(x.GetProperty("needsSysEnter").GetBoolean());
        Assert.False(File.Exists(Path.Join(_config.PinRoot, "links", "handle_sys_enter")));
    }

    private async Task<JsonElement> PsRowAsync(string containerId)
    {
        var (code, ps, stderr) = await CliAsync("ps", "--json");
        Assert.True(code == 0, $"ps failed: {stderr}");
        return JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == containerId).Clone();
    }

    private async Task WaitForLogAsync(PodSandboxConfig pod, string container, string text)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!_containerd.ReadContainerLog(pod, container).Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no \"{text}\" in {container}'s log: {_containerd.ReadContainerLog(pod, container)}; daemon:\n{_daemon.Tail(20)}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Editing_the_profile_file_from_log_to_kill_kills_the_running_container()
    {
        WriteProfile("edit-me", LogPersonality);
        var pod = await RunAsync("edited", Probe, Profile("edit-me"));
        await WaitForEventsAsync("default/edited", e => Is(e, Syscall, "Log"), "personality → Log before the edit");

        var written = DateTimeOffset.UtcNow;
        WriteProfile("edit-me", KillPersonality);
        var exited = await WaitForExitAsync(pod.ContainerId, Patience);
        Assert.Equal(137, exited.ExitCode);
        var delay = DateTimeOffset.FromUnixTimeMilliseconds(exited.FinishedAt / 1_000_000) - written;
        output.WriteLine($"file write to first changed decision (container killed): {delay.TotalMilliseconds:0} ms (debounce 50 ms, probe interval 20 ms)");
    }

    [Fact]
    public async Task Editing_the_profile_file_from_kill_to_log_spares_the_running_container()
    {
        WriteProfile("soften-me", KillPersonality);
        var pod = await RunAsync("softened", GatedProbe, Profile("soften-me"));
        WriteProfile("soften-me", LogPersonality);
        await _daemon.WaitForAsync(e => e.Message.Contains("Profile soften-me reloaded", StringComparison.Ordinal), Patience, "the reload");
        await _daemon.WaitForAsync(e => e.Message.Contains("to profile soften-me v2", StringComparison.Ordinal), Patience, "the rebind");

        await ReleaseGateAsync(pod.ContainerId);
        await WaitForEventsAsync("default/softened", e => Is(e, Syscall, "Log"), "personality → Log after the edit");
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(pod.ContainerId));
    }

    [Fact]
    public async Task A_broken_edit_is_rejected_and_the_last_good_version_stays_in_force()
    {
        WriteProfile("fragile", KillPersonality);
        var pod = await RunAsync("fragile", GatedProbe, Profile("fragile"));
        WriteProfile("fragile", """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_BOGUS"}]}""");
        var rejected = await _daemon.WaitForAsync(e => e.Message.Contains("Profile fragile: edit of", StringComparison.Ordinal), Patience, "the rejection");
        Assert.Contains("SCMP_ACT_BOGUS", rejected.Message);

        await ReleaseGateAsync(pod.ContainerId);
        Assert.Equal(137, (await WaitForExitAsync(pod.ContainerId, Patience)).ExitCode);
    }

    [Fact]
    public async Task Apply_mode_audit_turns_kill_into_log_and_enforce_turns_it_back()
    {
        var pod = await RunAsync("audited", GatedProbe, Profile("kill-personality"));
        var (code, _, stderr) = await CliAsync("apply", "--pod", "default/audited", "--mode", "audit");
        Assert.True(code == 0, stderr);

        await ReleaseGateAsync(pod.ContainerId);
        var audited = await WaitForEventsAsync("default/audited", e => Is(e, Syscall, "KillProcess") && e.GetProperty("mode").GetString() == "audit", "audited kill");
        Assert.NotEmpty(audited);
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(pod.ContainerId));

        (code, _, stderr) = await CliAsync("apply", "--container", pod.ContainerId[..12], "--mode", "enforce");
        Assert.True(code == 0, stderr);
        Assert.Equal(137, (await WaitForExitAsync(pod.ContainerId, Patience)).ExitCode);
    }

    [Fact]
    public async Task Apply_errors_reach_the_cli_verbatim()
    {
        var (code, _, stderr) = await CliAsync("apply", "--pod", "default/nope", "--mode", "audit");
        Assert.Equal(1, code);
        Assert.Contains("no pod default/nope on this node", stderr);
        (code, _, stderr) = await CliAsync("apply", "--pod", "default/nope", "--mode", "sideways");
        Assert.Equal(1, code);
        Assert.Contains("mode \"sideways\" must be enforce, audit or off", stderr);
    }

    public static TheoryData<string, string, string> BadReferences() => new()
    {
        { "unknown", "does-not-exist", "not found" },
        { "malformed", "malformed", "is invalid" },
        { "traversal", "localhost/../../../etc/passwd", "escapes" },
        { "bad-name", "a/b", "is not a built-in" },
    };

    [Theory]
    [MemberData(nameof(BadReferences))]
    public async Task Bad_profile_references_veto_the_container_with_a_message_naming_the_problem(string pod, string reference, string problem)
    {
        File.WriteAllText(Path.Join(_config.ProfileDirectory, "malformed.json"), "{\"defaultAction\": ");
        var (podId, podConfig) = await _containerd.RunPodAsync(pod, annotations: Profile(reference));
        var error = await Assert.ThrowsAsync<RpcException>(() => _containerd.CreateContainerAsync(podId, podConfig, "probe", "sleep 60"));
        output.WriteLine(error.Status.Detail);
        Assert.Contains("seccomp-ebpf.io/profile", error.Status.Detail);
        Assert.Contains(reference, error.Status.Detail);
        Assert.Contains(problem, error.Status.Detail);

        // The daemon keeps serving: a valid pod right after works.
        var good = await RunAsync(pod + "-ok", Probe, Profile("log-personality"));
        await WaitForEventsAsync($"default/{pod}-ok", e => Is(e, Syscall, "Log"), "events of the valid pod");
        Assert.False(_daemon.HasExited);
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(good.ContainerId));
    }

    [Fact]
    public async Task Containers_stay_enforced_while_the_daemon_restarts_and_are_listed_again()
    {
        var logger = await RunAsync("steady", Probe, Profile("log-personality"));
        var gated = await RunAsync("gated", GatedProbe, Profile("kill-personality"));
        await WaitForEventsAsync("default/steady", e => Is(e, Syscall, "Log"), "events before the restart");

        await _daemon.StopAsync();
        // No daemon now: the pinned programs and maps alone must kill this one.
        await ReleaseGateAsync(gated.ContainerId);
        Assert.Equal(137, (await WaitForExitAsync(gated.ContainerId, Patience)).ExitCode);

        await _daemon.DisposeAsync();
        await StartDaemonAsync();
        Assert.Contains(_daemon.Entries, e => e.Message.Contains("bindings adopted", StringComparison.Ordinal) && !e.Message.Contains(" 0 bindings adopted", StringComparison.Ordinal));
        var (code, ps, _) = await CliAsync("ps", "--json");
        Assert.Equal(0, code);
        var row = JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == logger.ContainerId);
        Assert.Equal("enforced", row.GetProperty("state").GetString());
        var since = DateTimeOffset.UtcNow;
        await WaitForEventsAsync("default/steady", e => Is(e, Syscall, "Log") && e.GetProperty("time").GetDateTimeOffset() > since, "events after the restart");
    }

    [Fact]
    public async Task A_late_Synchronize_reply_makes_the_daemon_register_again_and_later_pods_are_enforced()
    {
        // containerd gives up on a Synchronize reply after its 2 s request timeout but keeps the connection open and
        // sends no more events. The daemon's TestHooks delay (a test-only fault injection) holds the first reply 3 s.
        await RestartDaemonWithHookAsync("SECCOMP_EBPF_TEST_HOOK_SYNCHRONIZE_DELAY_MS", "3000", waitUntilReady: false);
        await _daemon.WaitForAsync(e => e.Message.Contains("beyond the runtime's request timeout", StringComparison.Ordinal), Patience, "the late reply noticed");
        await _daemon.WaitForAsync(e => e.Message.StartsWith("Synchronized ", StringComparison.Ordinal), Patience, "a Synchronize in time after registering again");
        Assert.True(_daemon.Entries.Count(e => e.Message.StartsWith("Registered with the NRI runtime", StringComparison.Ordinal)) >= 2,
            $"the daemon did not register a second time:\n{_daemon.Tail(30)}");
        output.WriteLine("containerd log:\n" + ContainerdInstance.Tail(_containerd.ContainerdLog, 15));
        Assert.Contains("failed to synchronize plugin", File.ReadAllText(_containerd.ContainerdLog), StringComparison.Ordinal);

        var killer = await RunAsync("after-late-sync", Probe, Profile("kill-personality"));
        Assert.Equal(137, (await WaitForExitAsync(killer.ContainerId, Patience)).ExitCode);
        Assert.Contains(await EventsAsync("default/after-late-sync"), e => Is(e, Syscall, "KillProcess"));
    }

    [Fact]
    public async Task A_StartContainer_decision_past_its_deadline_is_vetoed_in_time_and_containerd_keeps_the_plugin()
    {
        // The daemon's TestHooks delay (a test-only fault injection) blocks the first StartContainer decision for 4 s,
        // past containerd's 2 s request timeout. The handler must answer at its deadline (1.5 s) with a veto.
        await RestartDaemonWithHookAsync("SECCOMP_EBPF_TEST_HOOK_START_DELAY_MS", "4000", waitUntilReady: true);

        var (podId, podConfig) = await _containerd.RunPodAsync("stuck", annotations: Profile("kill-personality"));
        var stuck = await _containerd.CreateContainerAsync(podId, podConfig, "probe", Probe);
        var clock = Stopwatch.StartNew();
        var veto = await Assert.ThrowsAsync<RpcException>(async () =>
            await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = stuck }));
        output.WriteLine($"StartContainer answered after {clock.ElapsedMilliseconds} ms: {veto.Status.Detail}");
        Assert.Contains("no policy decision for container probe of pod default/stuck", veto.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("vetoed rather than started unprotected", veto.Status.Detail, StringComparison.Ordinal);

        // containerd kept the plugin: the next pod is enforced.
        var killer = await RunAsync("after-stuck", Probe, Profile("kill-personality"));
        Assert.Equal(137, (await WaitForExitAsync(killer.ContainerId, Patience)).ExitCode);
        await _daemon.WaitForAsync(e => e.Message.Contains("late policy decision", StringComparison.Ordinal), Patience, "the late decision logged");
        var containerdLog = File.ReadAllText(_containerd.ContainerdLog);
        Assert.DoesNotContain("closing plugin", containerdLog, StringComparison.Ordinal);
        Assert.DoesNotContain("failed to synchronize", containerdLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restart_with_200_running_containers_on_a_busy_node_synchronizes_in_time_and_enforces_new_pods()
    {
        // 20 pods of 10 containers (one shim per pod keeps the node's memory sane), every one bound. For a measurement by
        // hand, SECCOMP_EBPF_E2E_RESTART_PODS sets the number of pods (50 gives 500 containers).
        const int PerPod = 10;
        int Pods = int.TryParse(Environment.GetEnvironmentVariable("SECCOMP_EBPF_E2E_RESTART_PODS"), out var pods) && pods > 0 ? pods : 20;
        var clock = Stopwatch.StartNew();
        for (var p = 0; p < Pods; p++)
        {
            var (podId, podConfig) = await _containerd.RunPodAsync($"load-{p}", annotations: Profile(p % 2 == 0 ? "log-personality" : "kill-personality"));
            for (var c = 0; c < PerPod; c++)
            {
                var id = await _containerd.CreateContainerAsync(podId, podConfig, $"c{c}", "sleep 3600");
                await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
            }
        }
        output.WriteLine($"{Pods * PerPod} containers started in {clock.Elapsed.TotalSeconds:0.0} s");

        // Both cores busy while the daemon restarts: Synchronize must still be answered within containerd's 2 s.
        var burners = Enumerable.Range(0, Environment.ProcessorCount).Select(_ =>
            Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "while :; do :; done"]) { UseShellExecute = false })!).ToList();
        try
        {
            await _daemon.DisposeAsync();
            var logOffset = _containerd.ContainerdLogLength;
            clock.Restart();
            await StartDaemonAsync();
            output.WriteLine($"restart to Synchronize answered and control socket up: {clock.ElapsedMilliseconds} ms");
            var synchronized = await _daemon.WaitForAsync(e => e.Message.StartsWith("Synchronized ", StringComparison.Ordinal), Patience, "a Synchronize answered in time");
            output.WriteLine(synchronized.Message);
            output.WriteLine(_daemon.Entries.Last(e => e.Message.StartsWith("Synchronize of ", StringComparison.Ordinal)).Message);
            Assert.DoesNotContain(_daemon.Entries, e => e.Message.Contains("beyond the runtime's request timeout", StringComparison.Ordinal));
            var containerdSince = await _containerd.ContainerdLogSinceAsync(logOffset);
            Assert.DoesNotContain("failed to synchronize", containerdSince, StringComparison.Ordinal);
            Assert.DoesNotContain("closing plugin", containerdSince, StringComparison.Ordinal);

            var killer = await RunAsync("after-load", Probe, Profile("kill-personality"));
            Assert.Equal(137, (await WaitForExitAsync(killer.ContainerId, Patience)).ExitCode);
        }
        finally
        {
            foreach (var burner in burners)
            {
                burner.Kill();
                burner.Dispose();
            }
        }

        var (code, ps, _) = await CliAsync("ps", "--json");
        Assert.Equal(0, code);
        var enforced = JsonDocument.Parse(ps).RootElement.EnumerateArray()
            .Count(r => r.GetProperty("pod").GetString()!.StartsWith("load-", StringComparison.Ordinal) && r.GetProperty("state").GetString() == "enforced");
        Assert.Equal(Pods * PerPod, enforced);
    }

    private const string EntrypointMarker = "entrypoint-ran";

    private async Task RestartDaemonWithGateAsync(string mode, string? fallback = null)
    {
        await _daemon.DisposeAsync();
        _config.GateMode = mode;
        _config.GateProfile = fallback;
        await StartDaemonAsync();
    }

    private async Task WaitUntilRunningAsync(string containerId)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (await StateOfAsync(containerId) != ContainerState.ContainerRunning)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container {containerId[..12]} not running after {Patience.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task With_no_daemon_profile_mode_binds_new_containers_to_the_fallback_and_the_next_daemon_applies_their_own_policy()
    {
        await RestartDaemonWithGateAsync("profile", "kill-personality");
        await _daemon.StopAsync();

        // Three containers no daemon sees: each runs its entrypoint, under the fallback from its first instruction.
        var killed = await RunAsync("fallback-killed", GatedProbe);
        var annotated = await RunAsync("fallback-annotated", GatedProbe, Profile("log-personality"));
        var bare = await RunAsync("fallback-bare", GatedProbe);
        foreach (var id in new[] { killed.ContainerId, annotated.ContainerId, bare.ContainerId })
            await WaitUntilRunningAsync(id);
        await ReleaseGateAsync(killed.ContainerId);
        Assert.Equal(137, (await WaitForExitAsync(killed.ContainerId, Patience)).ExitCode);

        await _daemon.DisposeAsync();
        await StartDaemonAsync();
        var gap = await _daemon.WaitForAsync(e => e.Message.Contains("was created while no daemon followed the runtime", StringComparison.Ordinal) && e["Pod"] == "fallback-annotated",
            Patience, "the gap named with its pod and the fallback");
        output.WriteLine(gap.Message);
        Assert.Equal("kill-personality", gap["Fallback"]);

        // The daemon's reconcile puts each running container under its own policy: the annotated one logs personality...
        var (code, ps, _) = await CliAsync("ps", "--json");
        Assert.Equal(0, code);
        var row = JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == annotated.ContainerId);
        Assert.Equal("enforced", row.GetProperty("state").GetString());
        Assert.Equal("log-personality", row.GetProperty("profile").GetString());
        Assert.Equal("kill-personality", row.GetProperty("unprotectedGap").GetProperty("boundTo").GetString());
        await ReleaseGateAsync(annotated.ContainerId);
        await WaitForEventsAsync("default/fallback-annotated", e => Is(e, Syscall, "Log"), "personality logged under the container's own profile");

        // ...and the one that selects no profile is unbound: the gate's binding does not outlive the gap.
        await ReleaseGateAsync(bare.ContainerId);
        await Task.Delay(1000);
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(annotated.ContainerId));
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(bare.ContainerId));
        var (_, table, _) = await CliAsync("ps");
        Assert.Contains("bound to fallback profile kill-personality by the exec gate (profile)", table, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Profile_mode_with_a_fallback_that_does_not_exist_refuses_to_start_and_names_it()
    {
        await _daemon.DisposeAsync();
        _config.GateMode = "profile";
        _config.GateProfile = "no-such-profile";
        _daemon = DaemonProcess.Start(_config, new Dictionary<string, string>());
        var exit = await _daemon.WaitForExitAsync(Patience);
        Assert.NotEqual(0, exit);
        Assert.Contains("gate.profile \"no-such-profile\"", _daemon.Tail(10), StringComparison.Ordinal);
        _config.GateMode = null;
        _config.GateProfile = null;
        await StartDaemonAsync();
    }

    [Fact]
    public async Task With_no_daemon_deny_exec_keeps_a_new_container_from_running_its_entrypoint_and_the_next_daemon_reports_it()
    {
        await RestartDaemonWithGateAsync("deny-exec");
        var admitted = await RunAsync("admitted-before", "while :; do /bin/true; sleep 0.2; done");
        await _daemon.StopAsync(); // a stopping daemon withdraws its vouch: the gate is shut from now on

        (string PodId, PodSandboxConfig Pod, string ContainerId)? stranger = null;
        try
        {
            stranger = await RunAsync("stranger", $"echo {EntrypointMarker}; sleep 3600");
        }
        catch (RpcException e)
        {
            output.WriteLine($"the runtime failed the pod outright: {e.Status.Detail}");
        }
        if (stranger is { } started)
        {
            var exited = await WaitForExitAsync(started.ContainerId, Patience);
            output.WriteLine($"stranger exited with {exited.ExitCode}");
            Assert.Equal(137, exited.ExitCode);
            Assert.DoesNotContain(EntrypointMarker, _containerd.ReadContainerLog(started.Pod, "probe"), StringComparison.Ordinal);
        }
        // A container admitted while the daemon ran keeps exec'ing with no daemon.
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(admitted.ContainerId));

        await _daemon.DisposeAsync();
        await StartDaemonAsync();
        var recorded = await _daemon.WaitForAsync(e => e.Message.StartsWith("Exec gate: cgroup ", StringComparison.Ordinal), Patience, "the gate's record reported");
        output.WriteLine(recorded.Message);
        Assert.NotEqual("0", recorded["Denied"]);
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(admitted.ContainerId));
    }

    [Fact]
    public async Task With_no_daemon_log_mode_lets_a_new_container_run_and_the_next_daemon_names_it()
    {
        await RestartDaemonWithGateAsync("log");
        await _daemon.StopAsync();
        var unseen = await RunAsync("unseen", $"echo {EntrypointMarker}; sleep 3600");
        var deadline = DateTime.UtcNow + Patience;
        while (!_containerd.ReadContainerLog(unseen.Pod, "probe").Contains(EntrypointMarker, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Contains(EntrypointMarker, _containerd.ReadContainerLog(unseen.Pod, "probe"), StringComparison.Ordinal);

        await _daemon.DisposeAsync();
        await StartDaemonAsync();
        var gap = await _daemon.WaitForAsync(e => e.Message.Contains("was created while no daemon followed the runtime", StringComparison.Ordinal) && e["Pod"] == "unseen",
            Patience, "the gap named with its pod and container");
        output.WriteLine(gap.Message);
        Assert.Equal("probe", gap["Container"]);
        Assert.Equal("0", gap["Denied"]);
        Assert.NotEqual("0", gap["Execs"]);

        // ps keeps saying so: the container is listed with the gap, not as if it had always been followed.
        var (code, ps, _) = await CliAsync("ps", "--json");
        Assert.Equal(0, code);
        var row = JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == unseen.ContainerId);
        var recorded = row.GetProperty("unprotectedGap");
        Assert.Equal("log", recorded.GetProperty("gate").GetString());
        Assert.True(recorded.GetProperty("execs").GetUInt64() > 0);
        var (_, table, _) = await CliAsync("ps");
        Assert.Contains("created while no daemon followed the runtime", table, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hundred_pods_come_and_go_without_leaving_bindings_or_registry_entries()
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 100; i++)
        {
            var (podId, podConfig) = await _containerd.RunPodAsync($"churn-{i}", annotations: Profile(i % 2 == 0 ? "log-personality" : "kill-personality"));
            var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", "sleep 600");
            await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
            await _containerd.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
            await _containerd.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        }
        output.WriteLine($"100 pods created, started, stopped and removed in {clock.Elapsed.TotalSeconds:0.0} s");
        var handler = _daemon.Entries.Where(e => e["HandlerMicroseconds"] is not null).Select(e => long.Parse(e["HandlerMicroseconds"]!)).Order().ToList();
        Assert.True(handler.Count >= 100, $"expected 100 StartContainer timings, got {handler.Count}");
        output.WriteLine($"StartContainer handler with binding over {handler.Count} containers: p50 {handler[handler.Count / 2]} µs, p99 {handler[(int)(handler.Count * 0.99)]} µs, max {handler[^1]} µs");

        var (code, ps, _) = await CliAsync("ps", "--json");
        Assert.Equal(0, code);
        Assert.Empty(JsonDocument.Parse(ps).RootElement.EnumerateArray().ToList());
        // Unused profile slots are freed after a kernel grace period, by the engine's once-a-second reclaim.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        foreach (var map in new[] { "bindings", "slots", "syscall_policy", "rules", "arch_policy" })
        {
            while (true)
            {
                var dump = await Exec.RunAsync("bpftool", ["-j", "map", "dump", "pinned", Path.Join(_config.PinRoot, "maps", map)]);
                if (JsonDocument.Parse(dump).RootElement.GetArrayLength() == 0)
                    break;
                Assert.True(DateTime.UtcNow < deadline, $"map {map} still has entries 10 s after the last pod went: {dump}");
                await Task.Delay(200);
            }
        }
    }
}
