using System.Text;
using System.Text.Json;
using Grpc.Core;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// Bad input and a second daemon never cost a container its policy (issue 12): a second daemon on the same pin root
/// refuses to start, a symlink swapped in on reload is refused, and a profile the BPF evaluator cannot hold (or a
/// profile file that is not a regular file) vetoes at CreateContainer with a message naming the problem.
/// Real containerd, real BPF, the real executable.
/// </summary>
public sealed class CoreHardeningTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string KillPersonality = PolicyTests.KillPersonality;
    private const string GatedProbe = PolicyTests.GatedProbe;

    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket);
        WriteProfile("kill-personality", KillPersonality);
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

    private void WriteProfile(string name, string json) => _config.WriteProfile(name, json);

    private static Dictionary<string, string> Profile(string name) => new() { ["seccomp-ebpf.io/profile"] = name };

    private async Task<(string ContainerId, PodSandboxConfig Pod)> RunAsync(string pod, string script, Dictionary<string, string> annotations)
    {
        var (podId, podConfig) = await _containerd.RunPodAsync(pod, annotations: annotations);
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", script);
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return (id, podConfig);
    }

    private async Task<RpcException> VetoedAsync(string pod, Dictionary<string, string> annotations)
    {
        var (podId, podConfig) = await _containerd.RunPodAsync(pod, annotations: annotations);
        var error = await Assert.ThrowsAsync<RpcException>(() => _containerd.CreateContainerAsync(podId, podConfig, "probe", "sleep 60"));
        output.WriteLine($"{pod}: {error.Status.Detail}");
        return error;
    }

    private Task ReleaseGateAsync(string containerId) => PolicyTests.ReleaseGateAsync(_containerd, containerId);

    private async Task<int> ExitCodeAsync(string containerId)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var status = (await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId })).Status;
            if (status.State == ContainerState.ContainerExited)
                return status.ExitCode;
            Assert.True(DateTime.UtcNow < deadline, $"container {containerId[..12]} still {status.State}; daemon:\n{_daemon.Tail(20)}");
            await Task.Delay(50);
        }
    }

    private async Task<List<JsonElement>> PsAsync()
    {
        var (code, stdout, stderr) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["ps", "--json", "--socket", _config.ControlSocket]);
        Assert.True(code == 0, $"ps failed: {stderr}");
        return JsonDocument.Parse(stdout).RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    /// <summary>personality(2) with <paramref name="rules"/> argument rules: over 512 the BPF evaluator cannot hold it.</summary>
    private static string ManyRules(int rules)
    {
        var json = new StringBuilder("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[""");
        for (int i = 0; i < rules; i++)
            json.Append(i == 0 ? "" : ",").Append($$"""{"names":["personality"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":{{i + 1}},"op":"SCMP_CMP_EQ"}]}""");
        return json.Append("]}").ToString();
    }

    /// <summary>About 3.8 MB that validates: 24 syscalls with 500 argument rules each (about 2 s to compile here).</summary>
    private static string LargeProfile()
    {
        string[] names = ["personality", "getpid", "getppid", "uname", "getuid", "getgid", "geteuid", "getegid", "sysinfo", "times",
            "getpgrp", "getsid", "getpgid", "getpriority", "getrlimit", "getrusage", "getcpu", "getitimer", "sched_getscheduler",
            "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "umask", "alarm"];
        var json = new StringBuilder("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[""");
        var first = true;
        foreach (var name in names)
        {
            for (int i = 0; i < 500; i++, first = false)
            {
                json.Append(first ? "\n" : ",\n").Append($$"""  {"names":["{{name}}"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":{{i + 1000}},"op":"SCMP_CMP_EQ"}],""")
                    .Append($$""" "comment":"generated rule {{i}} of {{name}}, padding the profile to the size of a large real one, as generated profiles with long comments are, rule after rule"}""");
            }
        }
        return json.Append("]}").ToString();
    }

    [Fact]
    public async Task Slow_inputs_in_the_profile_directory_are_loaded_ahead_and_containerd_never_drops_the_plugin()
    {
        // Present when the daemon starts: a large valid profile, a FIFO and a character device, all named *.json.
        var large = LargeProfile();
        Assert.InRange(large.Length, 3_000_000, 4_000_000);
        WriteProfile("large", large);
        await Exec.RunAsync("mkfifo", [Path.Join(_config.ProfileDirectory, "fifo.json")]);
        await Exec.RunAsync("mknod", [Path.Join(_config.ProfileDirectory, "chardev.json"), "c", "1", "9"]); // /dev/urandom's numbers
        await _daemon.DisposeAsync();
        var logOffset = _containerd.ContainerdLogLength;
        _daemon = DaemonProcess.Start(_config);
        await _daemon.WaitForAsync(e => e.Message.StartsWith("Profiles loaded ahead", StringComparison.Ordinal), TimeSpan.FromSeconds(120), "the profile directory loaded ahead");
        await _daemon.WaitForAsync(e => e.Message.StartsWith("Control socket listening", StringComparison.Ordinal), Patience, "the control socket");
        Assert.Contains(_daemon.Entries, e => e.Message.StartsWith("Profile fifo could not be loaded ahead", StringComparison.Ordinal));
        Assert.Contains(_daemon.Entries, e => e.Message.StartsWith("Profile chardev could not be loaded ahead", StringComparison.Ordinal));

        // Ready before any container asks: binding it costs no compilation on the NRI path.
        var (largeId, _) = await RunAsync("large", "sleep 3600", Profile("large"));
        Assert.Equal("enforced", (await PsAsync()).Single(r => r.GetProperty("containerId").GetString() == largeId).GetProperty("state").GetString());
        // The veto is the daemon's own answer (a handler stuck on the file would have met containerd's timeout instead,
        // and been dropped: the log check below); no wall-clock bound, which a loaded machine would break.
        foreach (var special in new[] { "fifo", "chardev" })
            Assert.Contains("not a regular file", (await VetoedAsync(special, Profile(special))).Status.Detail);
        var gated = await RunAsync("later", GatedProbe, Profile("kill-personality"));
        await ReleaseGateAsync(gated.ContainerId);
        Assert.Equal(137, await ExitCodeAsync(gated.ContainerId));

        var containerdSince = await _containerd.ContainerdLogSinceAsync(logOffset);
        Assert.DoesNotContain("closing plugin", containerdSince, StringComparison.Ordinal);
        Assert.DoesNotContain("failed to synchronize", containerdSince, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_daemon_on_the_same_pin_root_refuses_to_start_and_the_first_keeps_its_containers()
    {
        var gated = await RunAsync("guarded", GatedProbe, Profile("kill-personality"));
        var socketInode = SeccompEbpf.Linux.Statx.InodeOf(_config.ControlSocket);

        await using var second = DaemonProcess.Start(_config);
        Assert.Equal(1, await second.WaitForExitAsync(Patience));
        output.WriteLine(second.Output);
        Assert.Contains($"another seccomp-ebpf daemon (pid {_daemon.Pid}) is running on the pin root {_config.PinRoot}", second.Output);

        // The first daemon still serves its socket and still enforces: nothing was unlinked, adopted or unbound.
        Assert.False(_daemon.HasExited);
        Assert.Equal(socketInode, SeccompEbpf.Linux.Statx.InodeOf(_config.ControlSocket));
        var row = (await PsAsync()).Single(r => r.GetProperty("containerId").GetString() == gated.ContainerId);
        Assert.Equal("enforced", row.GetProperty("state").GetString());
        await ReleaseGateAsync(gated.ContainerId);
        Assert.Equal(137, await ExitCodeAsync(gated.ContainerId));
    }

    [Fact]
    public async Task A_symlink_to_a_file_outside_the_profile_directory_swapped_in_on_reload_is_refused()
    {
        WriteProfile("swapped", KillPersonality);
        var gated = await RunAsync("swapped", GatedProbe, Profile("swapped"));

        // Replace the loaded profile with a symlink to /etc/shadow, atomically, as an attacker with write access would.
        var path = Path.Join(_config.ProfileDirectory, "swapped.json");
        File.CreateSymbolicLink(path + ".link", "/etc/shadow");
        File.Move(path + ".link", path, overwrite: true);

        var rejected = await _daemon.WaitForAsync(e => e.Message.Contains("Profile swapped: edit of", StringComparison.Ordinal), Patience, "the rejected reload");
        Assert.Contains("resolves to /etc/shadow, outside", rejected.Message);
        Assert.Contains("version 1 stays in force", rejected.Message);

        // The last good version (kill) is still what the kernel enforces.
        await ReleaseGateAsync(gated.ContainerId);
        Assert.Equal(137, await ExitCodeAsync(gated.ContainerId));
    }

    [Fact]
    public async Task A_profile_over_the_BPF_rule_limit_vetoes_cleanly_at_CreateContainer()
    {
        WriteProfile("rules-600", ManyRules(600));
        var error = await VetoedAsync("rules-600", Profile("rules-600"));
        Assert.Contains("profile \"rules-600\" exceeds the BPF evaluator's limits", error.Status.Detail);
        Assert.Contains("personality", error.Status.Detail);
        Assert.Contains("at most 512 per syscall", error.Status.Detail);
        Assert.DoesNotContain("Parameter", error.Status.Detail);
        Assert.DoesNotContain("Unknown", error.Status.Detail);

        // The CLI says the same before the profile is ever used.
        var (code, stdout, _) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["profile", "validate", Path.Join(_config.ProfileDirectory, "rules-600.json")]);
        Assert.Equal(1, code);
        Assert.Contains("BPF limit", stdout);

        // The daemon keeps serving, and the vetoed container is not listed.
        Assert.False(_daemon.HasExited);
        Assert.Empty(await PsAsync());
    }

    [Fact]
    public async Task Special_files_and_huge_annotations_veto_at_once_with_a_short_message()
    {
        var fifo = Path.Join(_config.ProfileDirectory, "fifo.json");
        await Exec.RunAsync("mkfifo", [fifo]);
        var logOffset = _containerd.ContainerdLogLength;
        // The daemon's own veto, not containerd's timeout; and the plugin is still registered afterwards.
        var error = await VetoedAsync("fifo", Profile("fifo"));
        Assert.Contains("a FIFO, not a regular file", error.Status.Detail);
        Assert.DoesNotContain("closing plugin", await _containerd.ContainerdLogSinceAsync(logOffset), StringComparison.Ordinal);

        var huge = new string('m', 100 * 1024);
        error = await VetoedAsync("huge", new Dictionary<string, string> { ["seccomp-ebpf.io/profile"] = "kill-personality", ["seccomp-ebpf.io/mode"] = huge });
        Assert.True(error.Status.Detail.Length < 2048, $"veto of {error.Status.Detail.Length} characters");
        Assert.Contains($"({huge.Length} characters)", error.Status.Detail);

        Assert.False(_daemon.HasExited);
        Assert.Empty(await PsAsync());
    }

    [Fact]
    public async Task A_container_vetoed_at_StartContainer_leaves_ps()
    {
        // ERRNO needs BPF LSM or error injection: where this kernel has neither, binding is refused (OnUnenforceable
        // refuse) and StartContainer is vetoed; where it has them, the container is simply enforced.
        WriteProfile("deny-personality", """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":77}]}""");
        var (podId, podConfig) = await _containerd.RunPodAsync("errno", annotations: Profile("deny-personality"));
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", "sleep 60");
        Assert.Single(await PsAsync(), r => r.GetProperty("containerId").GetString() == id);
        try
        {
            await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        }
        catch (RpcException e)
        {
            output.WriteLine($"vetoed at StartContainer: {e.Status.Detail}");
            Assert.Contains("profile \"deny-personality\" cannot be enforced", e.Status.Detail);
            Assert.DoesNotContain(await PsAsync(), r => r.GetProperty("containerId").GetString() == id);
            return;
        }
        var row = (await PsAsync()).Single(r => r.GetProperty("containerId").GetString() == id);
        Assert.Equal("enforced", row.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Idle_control_connections_are_capped_and_timed_out()
    {
        var idle = new List<System.Net.Sockets.Socket>();
        try
        {
            for (var i = 0; i < SeccompEbpf.Control.ControlServer.MaxConnections; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                idle.Add(socket);
                // A connect faster than the accept loop may find the backlog full (EAGAIN): wait for the daemon.
                while (true)
                {
                    try
                    {
                        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(_config.ControlSocket));
                        break;
                    }
                    catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.WouldBlock)
                    {
                        await Task.Delay(10);
                    }
                }
            }
            // One more is told so at once; the daemon keeps no more than the cap.
            var (code, _, stderr) = await Exec.TryRunAsync(DaemonProcess.ExecutablePath, ["ps", "--socket", _config.ControlSocket]);
            Assert.Equal(1, code);
            Assert.Contains("busy: 64 control connections are open", stderr);

            // A connection that sends no request is closed after the request timeout (10 s), freeing its place.
            var buffer = new byte[1];
            using var patience = new CancellationTokenSource(SeccompEbpf.Control.ControlServer.RequestTimeout + TimeSpan.FromSeconds(10));
            Assert.Equal(0, await idle[0].ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, patience.Token));
            await _daemon.WaitForAsync(e => e.Message.Contains("closed: no request within 10 s", StringComparison.Ordinal), Patience, "the idle timeout");
            Assert.NotNull(await PsAsync());
        }
        finally
        {
            foreach (var socket in idle)
                socket.Dispose();
        }
    }
}
