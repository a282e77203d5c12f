using System.Text.Json;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// <c>seccomp-ebpf.io/profile: runtime/default</c> on pods of a BPF-LSM kernel, under the default configuration, through a
/// real containerd: what it prevents, what it lets run and says so. Runs in the qemu tier (tests/vm, suite e2e), which sets
/// SECCOMP_EBPF_EXPECT_LSM=1; anywhere else it fails loudly rather than pass by skipping.
/// </summary>
[Trait("Category", "vm")]
public sealed class GuestRuntimeDefaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120); // TCG is ~25x slower than the host
    private static readonly Dictionary<string, string> RuntimeDefault = new() { ["seccomp-ebpf.io/profile"] = "runtime/default" };

    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        GuestKernel.RequireBpfLsm("this test needs BPF LSM");
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket) { OnUnenforceable = null };
        _daemon = DaemonProcess.Start(_config);
        await _daemon.WaitForAsync(e => e.Message.StartsWith("Synchronize of ", StringComparison.Ordinal), Patience, "Synchronize answered and reconciled");
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            output.WriteLine(_daemon.Tail(30));
            await _daemon.DisposeAsync();
        }
        if (_containerd is not null)
            await _containerd.DisposeAsync();
        if (_config is not null)
            await _config.DetachAsync();
    }

    [Fact]
    public async Task Runtime_default_allows_mkdir_denies_unshare_without_a_new_namespace_and_counts_what_it_cannot_prevent()
    {
        // Unconfined at the kernel, as a pod without a seccompProfile: everything is left to the BPF programs.
        var (bpfPod, bpfId) = await RunAsync("rtdefault", "container-probe mkdir-tmp 0 1; exec container-probe personality-rie 200", seccomp: null);
        // Kubernetes' RuntimeDefault too: the container's own kernel filter is the floor the plan counts as exact.
        var (floorPod, floorId) = await RunAsync("rtdefault-floor", "container-probe mkdir-tmp 0 1; exec container-probe unshare-user 200",
            new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.RuntimeDefault });

        await WaitForLogAsync(bpfPod, "mkdir-tmp ret=0 errno=0", "mkdir allowed");
        await WaitForLogAsync(floorPod, "mkdir-tmp ret=0 errno=0", "mkdir allowed under the kernel floor");
        // EPERM, and no user namespace: container-probe prints ret=-99 where the call failed after creating one.
        await WaitForLogAsync(floorPod, "unshare-user ret=-1 errno=1", "unshare(CLONE_NEWUSER) failing with EPERM");
        Assert.DoesNotContain("ret=-99", _containerd.ReadContainerLog(floorPod, "probe"));
        Assert.DoesNotContain("unshare-user ret=0", _containerd.ReadContainerLog(floorPod, "probe"));

        var floorRow = await PsRowAsync(floorId);
        output.WriteLine($"runtime/default over RuntimeDefault: {floorRow.GetProperty("exactness").GetProperty("summary").GetString()}");
        Assert.Contains("kernel seccomp", floorRow.GetProperty("exactness").GetProperty("summary").GetString());
        Assert.DoesNotContain("unshare", Names(floorRow, "notPreventedSyscalls"));

        // personality(READ_IMPLIES_EXEC) passes no LSM hook: runtime/default denies it, nothing here can prevent it, so it
        // runs, logged, and is counted as not prevented; the count keeps growing with each call.
        var first = await WaitForNotPreventedAsync(bpfId, 0);
        var later = await WaitForNotPreventedAsync(bpfId, first);
        var bpfRow = await PsRowAsync(bpfId);
        output.WriteLine($"runtime/default, unconfined: {bpfRow.GetProperty("exactness").GetProperty("summary").GetString()}; not-prevented decisions {first} then {later}");
        Assert.Contains("personality", Names(bpfRow, "notPreventedSyscalls"));
        Assert.Contains("personality-rie ret=0 errno=0", _containerd.ReadContainerLog(bpfPod, "probe"));
        var (code, events, _) = await CliAsync("events", "--json", "--pod", "default/rtdefault");
        Assert.Equal(0, code);
        Assert.Contains(events.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement),
            e => e.GetProperty("syscall").GetString() == "personality" && e.GetProperty("action").GetString() == "Log (degraded)");
    }

    private async Task<(PodSandboxConfig Pod, string ContainerId)> RunAsync(string pod, string script, SecurityProfile? seccomp)
    {
        var (podId, podConfig) = await _containerd.RunPodAsync(pod, annotations: RuntimeDefault);
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", script, seccomp: seccomp);
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return (podConfig, id);
    }

    private async Task<ulong> WaitForNotPreventedAsync(string containerId, ulong above)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var row = await PsRowAsync(containerId);
            if (row.GetProperty("decisions").TryGetProperty("Log (degraded)", out var n) && n.GetUInt64() > above)
                return n.GetUInt64();
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no not-prevented decision counted above {above} for {containerId[..12]}: {row}; daemon:\n{_daemon.Tail(20)}");
            await Task.Delay(200);
        }
    }

    private static IEnumerable<string?> Names(JsonElement row, string property)
        => row.GetProperty("exactness").GetProperty(property).EnumerateArray().Select(e => e.GetString());

    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => DaemonCli.RunAsync(_config, args);

    private Task<JsonElement> PsRowAsync(string containerId) => DaemonCli.PsRowAsync(_config, containerId);

    private async Task WaitForLogAsync(PodSandboxConfig pod, string text, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!_containerd.ReadContainerLog(pod, "probe").Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container log shows no {what} ({text}):\n{string.Join('\n', _containerd.ReadContainerLog(pod, "probe").Split('\n').TakeLast(10))}\ndaemon:\n{_daemon.Tail(20)}");
            await Task.Delay(200);
        }
    }
}
