using System.Diagnostics;
using System.Text.Json;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// Live recording through a real containerd (docs/recording.md): a pod annotated seccomp-ebpf.io/record is recorded
/// from its first instruction, `seccomp-ebpf record` writes the profile, and that profile enforced on a fresh pod
/// running the same script lets it run with no event, while one extra syscall (mkdirat) is caught as the plan of
/// each kernel says: <see cref="RecordingTests"/> on this host, <see cref="GuestRecordingTests"/> on a BPF-LSM kernel.
/// The fresh pods get the profile live (`apply`), after runc's init has exec'd the script: that init is a Go program
/// whose runtime's syscalls vary from one start to the next (epoll_pwait, futex, ...), so a profile recorded over one
/// start can miss one of another start's init (docs/recording.md says so); the script itself is deterministic.
/// </summary>
public abstract class RecordedProfileScenario(ITestOutputHelper output, TimeSpan patience) : IAsyncLifetime
{
    protected TimeSpan Patience { get; } = patience;
    protected ITestOutputHelper Output { get; } = output;
    // The probe is the same static binary in both scripts; only the syscall it makes differs (busybox sh and runc's
    // init never call mkdirat, nor do ls, cat, echo and rm). The marker says the work is done; sleep keeps the
    // container for the checks.
    protected const string Work = "ls / > /dev/null; cat /etc/hostname > /dev/null; echo x > /tmp/f; rm /tmp/f; ";
    // The gate (see PolicyTests.GatedProbe) sleeps at least once, so the recording holds what waiting costs.
    protected const string Gate = "exec 2>&1; sleep 0.05; while [ ! -e /tmp/go ]; do sleep 0.05; done; ";
    private const string Script = Gate + "container-probe getppid 1 1; " + Work + "touch /tmp/done; exec sleep 3600";
    private const string ScriptWithMkdirat = Gate + "container-probe mkdir-tmp 1 1; " + Work + "touch /tmp/done; exec sleep 3600";

    protected ContainerdInstance Containerd { get; private set; } = null!;
    protected DaemonConfig Config { get; private set; } = null!;
    private DaemonProcess _daemon = null!;

    /// <summary>enforcement.onUnenforceable for the daemon (null: the default configuration's).</summary>
    protected abstract string? OnUnenforceable { get; }

    /// <summary>What the kernel's plan does to the extra mkdirat: its container log (probe lines) and its events.</summary>
    protected abstract void AssertMkdiratCaught(string log, IReadOnlyList<JsonElement> events);

    public virtual async Task InitializeAsync()
    {
        Containerd = await ContainerdInstance.StartAsync(Output.WriteLine);
        Config = new DaemonConfig(Containerd.Root, Containerd.NriSocket) { OnUnenforceable = OnUnenforceable };
        _daemon = DaemonProcess.Start(Config, new Dictionary<string, string>());
        await _daemon.WaitUntilReadyAsync(Patience);
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            Output.WriteLine("daemon output tail:\n" + _daemon.Tail(30));
            await _daemon.DisposeAsync();
        }
        if (Containerd is not null)
            await Containerd.DisposeAsync();
        if (Config is not null)
            await Config.DetachAsync();
    }

    protected async Task<(PodSandboxConfig Pod, string ContainerId)> RunAsync(string pod, string script, Dictionary<string, string> annotations)
    {
        var (podId, podConfig) = await Containerd.RunPodAsync(pod, annotations: annotations);
        var id = await Containerd.CreateContainerAsync(podId, podConfig, "app", script);
        await Containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return (podConfig, id);
    }

    protected Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => DaemonCli.RunAsync(Config, args);

    private async Task<ContainerStatus> StatusAsync(string containerId) =>
        (await Containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true })).Status;

    /// <summary>Waits until the script touched /tmp/done, or fails when the container exits first.</summary>
    protected async Task WaitUntilDoneAsync(string containerId, PodSandboxConfig pod)
    {
        var info = await Containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true });
        using var doc = JsonDocument.Parse(info.Info["info"]);
        int pid = doc.RootElement.GetProperty("pid").GetInt32();
        var guard = Stopwatch.StartNew();
        while (!File.Exists($"/proc/{pid}/root/tmp/done"))
        {
            var status = await StatusAsync(containerId);
            Assert.True(status.State == ContainerState.ContainerRunning,
                $"container {containerId[..12]} exited ({status.ExitCode}) before its script was done; log:\n{Containerd.ReadContainerLog(pod, "app")}\nevents: {await EventLinesAsync()}");
            if (guard.Elapsed > Patience)
                throw new TimeoutException($"the script of {containerId[..12]} did not finish (deadlock guard)");
            await Task.Delay(50);
        }
    }

    protected Task<List<JsonElement>> EventsAsync(string pod) => DaemonCli.EventsAsync(Config, pod);

    protected async Task ApplyRecordedAsync(string containerId)
    {
        var (code, stdout, stderr) = await CliAsync("apply", "--container", containerId, "--profile", "recorded");
        Assert.True(code == 0, stderr);
        Assert.Contains(" enforced ", stdout);
    }

    private async Task<string> EventLinesAsync() => (await CliAsync("events")).Stdout;

    [Fact]
    public async Task A_recorded_profile_runs_the_same_script_and_catches_one_extra_syscall()
    {
        // 1. Recorded from StartContainer on: no profile, so the allow-all recording binding; ps says so.
        var recorded = await RunAsync("recorded", Script, new Dictionary<string, string> { ["seccomp-ebpf.io/record"] = "true" });
        await PolicyTests.ReleaseGateAsync(Containerd, recorded.ContainerId);
        await WaitUntilDoneAsync(recorded.ContainerId, recorded.Pod);
        var (code, ps, psErr) = await CliAsync("ps", "--json");
        Assert.True(code == 0, psErr);
        var row = JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == recorded.ContainerId);
        Assert.Equal("recording", row.GetProperty("state").GetString());
        Assert.True(row.TryGetProperty("recording", out _), ps);

        // 2. The CLI reads the recording (running since the first instruction: no waiting) into a profile file.
        string file = Path.Join(Config.Root, "recorded.json");
        var (recordCode, _, recordErr) = await CliAsync("record", "--pod", "default/recorded", "--out", file);
        Assert.True(recordCode == 0, recordErr);
        string json = await File.ReadAllTextAsync(file);
        Output.WriteLine(json);
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.Equal("SCMP_ACT_ERRNO", doc.RootElement.GetProperty("defaultAction").GetString());
            var names = doc.RootElement.GetProperty("syscalls")[0].GetProperty("names").EnumerateArray().Select(n => n.GetString()!).ToList();
            Assert.Equal(names.Order(StringComparer.Ordinal), names);
            foreach (string expected in new[] { "execve", "getppid", "exit_group" })
                Assert.Contains(expected, names);
            Assert.DoesNotContain("mkdirat", names);
            Assert.Contains("of pod default/recorded", doc.RootElement.GetProperty("syscalls")[0].GetProperty("comment").GetString());
        }
        // the project's own parser and limits accept it as it is
        var (validateCode, validated, _) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["profile", "validate", file]);
        Assert.True(validateCode == 0, validated);

        // 3. Enforced (applied live, while the script waits at its gate) on a fresh pod running the same script: it runs
        //    to the end with no event at all.
        Config.WriteProfile("recorded", json);
        var replay = await RunAsync("replay", Script, []);

        // (A recording the CLI starts itself, on this unmanaged container waiting at its gate: bound to record, read
        // after --duration, then stopped and unbound again.)
        string waiting = Path.Join(Config.Root, "waiting.json");
        var (waitCode, _, waitErr) = await CliAsync("record", "--container", replay.ContainerId, "--duration", "500ms", "--out", waiting);
        Assert.True(waitCode == 0, waitErr);
        using (var doc = JsonDocument.Parse(await File.ReadAllTextAsync(waiting)))
            Assert.Contains("clock_nanosleep", doc.RootElement.GetProperty("syscalls")[0].GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        var (_, psAfter, _) = await CliAsync("ps", "--json");
        var replayRow = JsonDocument.Parse(psAfter).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == replay.ContainerId);
        Assert.Equal("unmanaged", replayRow.GetProperty("state").GetString());
        Assert.False(replayRow.TryGetProperty("recording", out _), psAfter);

        await ApplyRecordedAsync(replay.ContainerId);
        await PolicyTests.ReleaseGateAsync(Containerd, replay.ContainerId);
        await WaitUntilDoneAsync(replay.ContainerId, replay.Pod);
        Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(replay.ContainerId)).State);
        Assert.Empty(await EventsAsync("default/replay"));
        Assert.Contains("getppid ret=", Containerd.ReadContainerLog(replay.Pod, "app"));

        // 4. The same script with mkdirat instead of getppid (the shell, the probe's parent, goes on to the end):
        //    caught as this kernel's plan says, and reported.
        var extra = await RunAsync("extra", ScriptWithMkdirat, []);
        await ApplyRecordedAsync(extra.ContainerId);
        await PolicyTests.ReleaseGateAsync(Containerd, extra.ContainerId);
        await WaitUntilDoneAsync(extra.ContainerId, extra.Pod);
        var events = await EventsAsync("default/extra");
        Output.WriteLine($"extra pod: {string.Join("; ", events.Select(e => $"{e.GetProperty("syscall").GetString()} {e.GetProperty("action").GetString()}"))}");
        AssertMkdiratCaught(Containerd.ReadContainerLog(extra.Pod, "app"), events);
    }
}

/// <summary>
/// <see cref="RecordedProfileScenario"/> on this host, which has no BPF LSM: the recorded ERRNO(EPERM) default is
/// enforced as KILL after entry (enforcement.onUnenforceable degrade-to-kill), so any syscall the recording missed
/// would kill the fresh pod, and the extra mkdirat kills the probe. Runs against containerd 1.7 (the e2e tier's first run).
/// </summary>
public sealed class RecordingTests(ITestOutputHelper output) : RecordedProfileScenario(output, TimeSpan.FromSeconds(30))
{
    protected override string? OnUnenforceable => "degrade-to-kill";

    protected override void AssertMkdiratCaught(string log, IReadOnlyList<JsonElement> events)
    {
        Assert.DoesNotContain("mkdir-tmp ret=", log);
        var kill = Assert.Single(events);
        Assert.Equal("mkdirat", kill.GetProperty("syscall").GetString());
        Assert.Equal("KillProcess (degraded)", kill.GetProperty("action").GetString()); // ERRNO(EPERM) as KILL after entry here
    }

    private const string ScriptWithPersonality = Gate + "container-probe personality-query 1 1; " + Work + "touch /tmp/done; exec sleep 3600";
    private const string ScriptWithReadImpliesExec = Gate + "container-probe personality-rie 1 1; " + Work + "touch /tmp/done; exec sleep 3600";

    [Fact]
    public async Task With_args_allows_personality_only_with_the_value_the_workload_passed()
    {
        // 1. `record --with-args personality:0` on an unmanaged pod waiting at its gate, until Ctrl-C (the script's end
        //    decides when, not a duration): the probe queries the persona, personality(0xffffffff).
        var recorded = await RunAsync("withargs", ScriptWithPersonality, []);
        string file = Path.Join(Config.Root, "withargs.json");
        var start = new ProcessStartInfo(DaemonProcess.ExecutablePath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "record", "--container", recorded.ContainerId, "--with-args", "personality:0", "--duration", "10m", "--out", file, "--socket", Config.ControlSocket })
            start.ArgumentList.Add(arg);
        using (var cli = Process.Start(start.Interruptible())!)
        {
            // its first line comes once the recording (of arguments too) has started
            var first = await WithinAsync(cli.StandardError.ReadLineAsync(), cli, "its first line");
            Assert.True(first?.Contains("recording 1 container(s)") == true, first);
            // the fresh pods below get the profile while they wait at the gate: the recording must hold a whole round
            // of that wait (the sleep applet included) before the gate opens. A second `record` reads the running
            // recording without stopping it (nor its arguments).
            string peek = Path.Join(Config.Root, "peek.json");
            var guard = Stopwatch.StartNew();
            while (true)
            {
                var (peekCode, _, peekErr) = await CliAsync("record", "--container", recorded.ContainerId, "--out", peek);
                Assert.True(peekCode == 0, peekErr);
                if ((await File.ReadAllTextAsync(peek)).Contains("\"clock_nanosleep\"", StringComparison.Ordinal))
                    break;
                if (guard.Elapsed > Patience)
                    throw new TimeoutException("the recording never saw the gate's sleep (deadlock guard)");
                await Task.Delay(50);
            }
            await PolicyTests.ReleaseGateAsync(Containerd, recorded.ContainerId);
            await WaitUntilDoneAsync(recorded.ContainerId, recorded.Pod);
            // ps says what the recording collects besides syscalls: the one persona the probe queried
            var recording = (await DaemonCli.PsRowAsync(Config, recorded.ContainerId)).GetProperty("recording");
            var argument = Assert.Single(recording.GetProperty("arguments").EnumerateArray().ToList());
            Assert.Equal(("personality", 0, 1, false), (argument.GetProperty("syscall").GetString(), argument.GetProperty("index").GetInt32(),
                argument.GetProperty("values").GetInt32(), argument.GetProperty("overflow").GetBoolean()));
            var (_, table, _) = await CliAsync("ps");
            Assert.Contains("with the values of personality:0 (1 so far)", table);
            cli.Interrupt();
            string rest = await WithinAsync(cli.StandardError.ReadToEndAsync(), cli, "its exit after SIGINT");
            await cli.WaitForExitAsync().WaitAsync(Patience);
            Assert.True(cli.ExitCode == 0, rest);
        }
        string json = await File.ReadAllTextAsync(file);
        Output.WriteLine(json);
        using (var doc = JsonDocument.Parse(json))
        {
            var rules = doc.RootElement.GetProperty("syscalls").EnumerateArray().ToList();
            Assert.DoesNotContain("personality", rules[0].GetProperty("names").EnumerateArray().Select(n => n.GetString()));
            var personality = Assert.Single(rules, r => r.GetProperty("names").EnumerateArray().Any(n => n.GetString() == "personality"));
            var arg = Assert.Single(personality.GetProperty("args").EnumerateArray().ToList());
            Assert.Equal((0, 0xffffffffUL, "SCMP_CMP_EQ"), (arg.GetProperty("index").GetInt32(), arg.GetProperty("value").GetUInt64(), arg.GetProperty("op").GetString()));
            Assert.Equal("SCMP_ACT_ALLOW", personality.GetProperty("action").GetString());
        }
        var (validateCode, validated, _) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["profile", "validate", file]);
        Assert.True(validateCode == 0, validated);
        // the recording this command started is over: the container is unmanaged again
        Assert.Equal("unmanaged", (await DaemonCli.PsRowAsync(Config, recorded.ContainerId)).GetProperty("state").GetString());

        // 2. Enforced live on fresh pods: the same query runs to the end with no event; a persona the workload never
        //    set (READ_IMPLIES_EXEC) is killed and reported.
        Config.WriteProfile("recorded", json);
        var same = await RunAsync("same", ScriptWithPersonality, []);
        await ApplyRecordedAsync(same.ContainerId);
        await PolicyTests.ReleaseGateAsync(Containerd, same.ContainerId);
        await WaitUntilDoneAsync(same.ContainerId, same.Pod);
        Assert.Contains("personality-query ret=", Containerd.ReadContainerLog(same.Pod, "app"));
        Assert.Empty(await EventsAsync("default/same"));

        var other = await RunAsync("other", ScriptWithReadImpliesExec, []);
        await ApplyRecordedAsync(other.ContainerId);
        await PolicyTests.ReleaseGateAsync(Containerd, other.ContainerId);
        await WaitUntilDoneAsync(other.ContainerId, other.Pod);
        Assert.DoesNotContain("personality-rie ret=", Containerd.ReadContainerLog(other.Pod, "app"));
        var kill = Assert.Single(await EventsAsync("default/other"));
        Assert.Equal("personality", kill.GetProperty("syscall").GetString());
    }

    /// <summary>
    /// <paramref name="task"/> within Patience, or a failure that says what the CLI was doing: which signals it
    /// ignores and catches (/proc/PID/status) and its state, for a wait that CI once saw time out.
    /// </summary>
    private async Task<T> WithinAsync<T>(Task<T> task, Process cli, string what)
    {
        try
        {
            return await task.WaitAsync(Patience);
        }
        catch (TimeoutException)
        {
            string status = cli.HasExited ? $"exited with {cli.ExitCode}"
                : string.Join(", ", File.ReadAllLines($"/proc/{cli.Id}/status")
                    .Where(l => l.Split(':')[0] is "State" or "SigIgn" or "SigCgt" or "SigBlk"));
            throw new TimeoutException($"`seccomp-ebpf record` gave no {what} within {Patience}: {status}");
        }
    }
}
