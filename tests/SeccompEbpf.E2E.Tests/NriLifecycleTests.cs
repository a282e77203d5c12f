using System.Text.Json;
using SeccompEbpf.Cri.V1;
using SeccompEbpf.E2E.Tests.Containerd;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>The daemon against a real containerd (1.7, and 2.x in the Containerd=every run) with NRI, driven through the CRI.</summary>
[Trait("Containerd", "every")]
public sealed class NriLifecycleTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private ContainerdInstance _containerd = null!;
    private DaemonConfig _config = null!;
    private DaemonProcess? _daemon;

    public async Task InitializeAsync()
    {
        _containerd = await ContainerdInstance.StartAsync(output.WriteLine);
        _config = new DaemonConfig(_containerd.Root, _containerd.NriSocket);
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            output.WriteLine("daemon output tail:\n" + _daemon.Tail(40));
            await _daemon.DisposeAsync();
        }
        await _containerd.DisposeAsync();
        await _config.DetachAsync();
    }

    private async Task<DaemonProcess> StartDaemonAsync()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        _daemon = DaemonProcess.Start(_config);
        await _daemon.WaitForAsync(e => e.Message.StartsWith("NRI connected to containerd", StringComparison.Ordinal), Patience, "registration");
        output.WriteLine($"process start to registered with containerd: {started.ElapsedMilliseconds} ms");
        await _daemon.WaitForAsync(e => e.Message.StartsWith("Synchronize of ", StringComparison.Ordinal), Patience, "the first Synchronize answered and reconciled");
        return _daemon;
    }

    [Fact]
    public async Task Two_container_pod_is_followed_from_creation_to_removal_with_pid_and_cgroup_id()
    {
        var daemon = await StartDaemonAsync();
        var (podId, podConfig) = await _containerd.RunPodAsync("lifecycle");
        var first = await _containerd.CreateContainerAsync(podId, podConfig, "first", "sleep 3600");
        var second = await _containerd.CreateContainerAsync(podId, podConfig, "second", "sleep 3600");
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = first });
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = second });

        var expectedCgroup = new Dictionary<string, (int Pid, ulong CgroupId)>();
        foreach (var id in new[] { first, second })
            expectedCgroup[id] = await CgroupOfContainerAsync(id);

        foreach (var id in new[] { first, second })
        {
            await _containerd.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 1 });
            await _containerd.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        }
        await _containerd.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        await _containerd.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        await daemon.WaitForAsync(e => e["NriEvent"] == "RemovePodSandbox" && e["PodId"] == podId, Patience, "RemovePodSandbox");

        var podEvents = daemon.Entries.Where(e => e["PodId"] == podId).Select(e => e["NriEvent"]).ToList();
        Assert.Equal(["RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"], podEvents);
        foreach (var id in new[] { first, second })
        {
            var events = daemon.ContainerEvents(id);
            output.WriteLine($"{id[..12]}: {string.Join(" → ", events.Select(e => $"{e["NriEvent"]}(pid {e["Pid"]}, cgroup {e["CgroupId"]}, {e["State"]})"))}");
            var names = events.Select(e => e["NriEvent"]!).ToList();
            Assert.Equal(["CreateContainer", "PostCreateContainer", "StartContainer", "PostStartContainer", "StopContainer", "RemoveContainer"], names);

            var start = events.Single(e => e["NriEvent"] == "StartContainer");
            Assert.Equal("ContainerCreated", start["State"]);
            Assert.Equal(expectedCgroup[id].Pid.ToString(), start["Pid"]);
            Assert.Equal(expectedCgroup[id].CgroupId.ToString(), start["CgroupId"]);
            Assert.Equal("default", start["PodNamespace"]);
            Assert.Equal("lifecycle", start["Pod"]);
        }
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task Restarting_containerd_makes_the_plugin_reconnect_and_receive_running_containers_in_Synchronize()
    {
        var daemon = await StartDaemonAsync();
        var (podId, podConfig) = await _containerd.RunPodAsync("restart");
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "survivor", "sleep 3600");
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        var (pid, cgroupId) = await CgroupOfContainerAsync(id);
        var synchronizedBefore = daemon.Entries.Count(e => e.Message.StartsWith("NRI Synchronize", StringComparison.Ordinal));

        await _containerd.RestartAsync();

        var resync = await daemon.WaitForAsync(
            e => e["NriEvent"] == "Synchronize" && e["ContainerId"] == id, Patience, "the running container in a new Synchronize");
        Assert.Equal(pid.ToString(), resync["Pid"]);
        Assert.Equal(cgroupId.ToString(), resync["CgroupId"]);
        Assert.True(daemon.Entries.Count(e => e.Message.StartsWith("NRI Synchronize", StringComparison.Ordinal)) > synchronizedBefore);
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task Preinstalled_plugin_is_launched_by_containerd_and_follows_containers()
    {
        // containerd launches plugin_path/NN-name with only NRI_PLUGIN_{NAME,IDX,SOCKET} in its environment and fd 3.
        var log = Path.Join(_containerd.Root, "preinstalled.log");
        var plugin = Path.Join(_containerd.NriPluginPath, "10-seccomp-ebpf");
        File.WriteAllText(plugin, $"#!/bin/sh\nexec '{DaemonProcess.ExecutablePath}' run --config '{_config.Write()}' --log-format json >> '{log}' 2>&1\n");
        File.SetUnixFileMode(plugin, (UnixFileMode)0b111_101_101);
        await _containerd.RestartAsync();

        var (podId, podConfig) = await _containerd.RunPodAsync("preinstalled");
        var id = await _containerd.CreateContainerAsync(podId, podConfig, "c", "sleep 3600");
        await _containerd.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        var (pid, cgroupId) = await CgroupOfContainerAsync(id);

        var deadline = DateTime.UtcNow + Patience;
        DaemonLogEntry? start = null;
        while (start is null && DateTime.UtcNow < deadline)
        {
            start = ReadLog(log).FirstOrDefault(e => e["NriEvent"] == "StartContainer" && e["ContainerId"] == id);
            if (start is null)
                await Task.Delay(200);
        }
        Assert.True(start is not null, $"the pre-installed plugin did not log StartContainer; its log:\n{ContainerdInstance.Tail(log)}\ncontainerd:\n{ContainerdInstance.Tail(_containerd.ContainerdLog)}");
        Assert.Equal(pid.ToString(), start!["Pid"]);
        Assert.Equal(cgroupId.ToString(), start["CgroupId"]);
        Assert.Contains(ReadLog(log), e => e.Message.Contains("NRI connected to containerd", StringComparison.Ordinal));
    }

    private static List<DaemonLogEntry> ReadLog(string path)
    {
        if (!File.Exists(path))
            return [];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var entries = new List<DaemonLogEntry>();
        while (reader.ReadLine() is { } line)
        {
            if (DaemonProcess.Parse(line) is { } entry)
                entries.Add(entry);
        }
        return entries;
    }

    /// <summary>The container's init PID (from the CRI) and the inode of its cgroup v2 directory (from the kernel).</summary>
    private Task<(int Pid, ulong CgroupId)> CgroupOfContainerAsync(string containerId) => _containerd.HostViewOfContainerAsync(containerId);
}
