using System.Text.Json;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// Under the default configuration (no enforcement.onUnenforceable: log-unpreventable-default), the profiles people
/// already use start their pods in enforce mode on this host, whose kernel can prevent nothing (no BPF LSM, no error
/// injection), and ps says how exactly each is enforced. Real containerd, real BPF, the real CLI.
/// </summary>
[Trait("Containerd", "every")]
public sealed class DefaultConfigTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly string[] Fixtures = ["docker-default", "violation", "fine-grained", "busybox-recorded"];

    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket) { OnUnenforceable = null };
        foreach (var name in Fixtures)
            File.Copy(Path.Join(TestPaths.RepoRoot, "tests", "Shared", "profiles", name + ".json"), Path.Join(_config.ProfileDirectory, name + ".json"));
        _daemon = DaemonProcess.Start(_config);
        await _daemon.WaitUntilReadyAsync(Patience);
    }

    public async Task DisposeAsync()
    {
        output.WriteLine("daemon output tail:\n" + _daemon.Tail(30));
        await _daemon.DisposeAsync();
        await _containerd.DisposeAsync();
        await _config.DetachAsync();
    }

    private async Task<(PodSandboxConfig Pod, string ContainerId)> RunAsync(string pod, string script, string profile)
    {
        var (podId, podConfig) = await _containerd.RunPodAsync(pod, annotations: new Dictionary<string, string> { ["seccomp-ebpf.io/profile"] = profile });
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", script);
        // Under refuse this is where StartContainer was vetoed ("OnUnenforceable=Refuse ... Errno(1) for default action").
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return (podConfig, id);
    }

    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => DaemonCli.RunAsync(_config, args);

    private Task<JsonElement> PsRowAsync(string containerId) => DaemonCli.PsRowAsync(_config, containerId);

    [Fact]
    public async Task Real_profiles_start_in_enforce_mode_and_ps_shows_their_plan()
    {
        var started = new List<(string Profile, string ContainerId)>();
        foreach (var profile in new[] { "runtime/default" }.Concat(Fixtures))
        {
            // the recorded allowlist runs the workload it was recorded from
            var script = profile == "busybox-recorded" ? "ls; wget --help; sleep 60" : "sleep 60";
            var (_, id) = await RunAsync(profile.Replace('/', '-'), script, profile);
            started.Add((profile, id));
        }

        foreach (var (profile, id) in started)
        {
            var row = await PsRowAsync(id);
            output.WriteLine($"{profile}: {row.GetProperty("state").GetString()} {row.GetProperty("exactness").GetProperty("summary")}; decisions {row.GetProperty("decisions")}");
            Assert.Equal("enforced", row.GetProperty("state").GetString());
            Assert.Equal("enforce", row.GetProperty("mode").GetString());
            var exactness = row.GetProperty("exactness");
            Assert.Equal("x86_64", exactness.GetProperty("arch").GetString());
            Assert.Equal(0, exactness.GetProperty("refused").GetInt32());
            // every one of these profiles denies hookless syscalls (reboot, getpid, ...) that no kernel here can prevent
            Assert.True(exactness.GetProperty("notPrevented").GetInt32() > 0);
            Assert.Matches(@"^exact \d+ · after-entry \d+ · not prevented \d+$", exactness.GetProperty("summary").GetString());

            // the daemon's plan is the one `profile plan` prints for this kernel without a container
            var file = profile == "runtime/default" ? profile : Path.Join(_config.ProfileDirectory, profile + ".json");
            var (code, plan, error) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["profile", "plan", file, "--json"]);
            Assert.True(code == 0, error);
            using var planned = JsonDocument.Parse(plan);
            var summary = planned.RootElement.GetProperty("summary");
            foreach (var count in new[] { "exact", "afterEntry", "notPrevented" })
                Assert.Equal(summary.GetProperty(count).GetInt32(), exactness.GetProperty(count).GetInt32());
        }

        // the daemon's log line for each binding carries the same summary
        Assert.Contains(_daemon.Entries, e => e.Message.StartsWith("Bound pod default/runtime-default ", StringComparison.Ordinal)
            && e["Exactness"] is { } x && x.StartsWith("exact ", StringComparison.Ordinal));

        var (_, text, _) = await CliAsync("ps");
        output.WriteLine(text);
        Assert.Contains("x86_64: exact ", text);
        Assert.Contains("not prevented: ", text);
    }

    [Fact]
    public async Task A_denied_syscall_no_mechanism_prevents_here_runs_logged_and_counted_as_not_prevented()
    {
        // fine-grained.json does not allow uname: its default ERRNO has no LSM hook to stop uname on any kernel
        var (pod, id) = await RunAsync("unamer", "exec container-probe uname 50", "fine-grained");

        var deadline = DateTime.UtcNow + Patience;
        JsonElement row;
        ulong counted = 0;
        while (true)
        {
            row = await PsRowAsync(id);
            if (row.GetProperty("decisions").TryGetProperty("Log (degraded)", out var n) && (counted = n.GetUInt64()) > 0)
                break;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no not-prevented decision counted for {id[..12]}: {row}; daemon:\n{_daemon.Tail(20)}");
            await Task.Delay(100);
        }
        Assert.Contains("uname", row.GetProperty("exactness").GetProperty("notPreventedSyscalls").EnumerateArray().Select(e => e.GetString()));
        var (code, events, _) = await CliAsync("events", "--json", "--pod", "default/unamer");
        Assert.Equal(0, code);
        Assert.Contains(events.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement),
            e => e.GetProperty("syscall").GetString() == "uname" && e.GetProperty("action").GetString() == "Log (degraded)");
        // not prevented means exactly that: the call ran
        Assert.Contains("uname ret=0 errno=0", _containerd.ReadContainerLog(pod, "probe"));
        output.WriteLine($"not-prevented decisions counted: {counted}");
    }
}
