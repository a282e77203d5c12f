using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// ERRNO through a real containerd: needs BPF LSM, which this project's development hosts refuse. It runs in the qemu
/// tier (tests/vm, suite e2e) on stock Debian kernels, which set SECCOMP_EBPF_EXPECT_LSM=1; anywhere else it fails
/// loudly rather than pass by skipping.
/// </summary>
[Trait("Category", "vm")]
public sealed class ErrnoPolicyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120); // TCG is ~25x slower than the host
    private const string DenyMkdir = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":77}]}""";
    private const string AllowMkdir = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_LOG"}]}""";

    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        GuestKernel.RequireBpfLsm("ERRNO needs BPF LSM");
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket);
        File.WriteAllText(Path.Join(_config.ProfileDirectory, "deny-mkdir.json"), DenyMkdir);
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
    public async Task The_container_sees_the_errno_and_an_edit_lets_the_call_succeed_without_a_restart()
    {
        var (podId, podConfig) = await _containerd.RunPodAsync("errno", annotations: new Dictionary<string, string> { ["seccomp-ebpf.io/profile"] = "deny-mkdir" });
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "probe", "exec container-probe mkdir-tmp 100");
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });

        await WaitForLogAsync(podConfig, l => l.Contains("mkdir-tmp ret=-1 errno=77"), "mkdirat failing with errno 77");
        var before = _containerd.ReadContainerLog(podConfig, "probe").Split('\n').Length;

        var path = Path.Join(_config.ProfileDirectory, "deny-mkdir.json");
        File.WriteAllText(path + ".tmp", AllowMkdir);
        File.Move(path + ".tmp", path, overwrite: true);
        await WaitForLogAsync(podConfig, l => l.Contains("mkdir-tmp ret=0 errno=0"), "mkdirat succeeding after the edit", skipLines: before);

        var status = await _containerd.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id });
        Assert.Equal(ContainerState.ContainerRunning, status.Status.State);
    }

    private async Task WaitForLogAsync(PodSandboxConfig pod, Func<string, bool> predicate, string what, int skipLines = 0)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!_containerd.ReadContainerLog(pod, "probe").Split('\n').Skip(skipLines).Any(predicate))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container log shows no {what}:\n{string.Join('\n', _containerd.ReadContainerLog(pod, "probe").Split('\n').TakeLast(10))}\ndaemon:\n{_daemon.Tail(20)}");
            await Task.Delay(200);
        }
    }
}
