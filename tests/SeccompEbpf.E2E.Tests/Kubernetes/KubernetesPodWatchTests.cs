using SeccompEbpf.Cri.V1;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// Annotation edits on running pods, seen through the pod watch of a FAKE API server, re-select real containerd
/// containers; watch expiry and reconnects lose no edit.
/// </summary>
public sealed class KubernetesPodWatchTests(ITestOutputHelper output) : KubernetesTestBed(output)
{
    [Fact]
    public async Task An_annotation_edit_on_the_fake_api_server_rebinds_the_running_container()
    {
        var pod = await RunPodAsync("annotated", Probe, Profile("log-personality"));
        await WaitForSyscallEventAsync("default/annotated", "Log");

        var edited = DateTimeOffset.UtcNow;
        Api.UpsertPod(pod.Namespace, pod.Name, pod.Uid, NodeName, Profile("kill-personality"));
        var exited = await WaitForExitAsync(pod.ContainerId);
        Assert.Equal(137, exited.ExitCode); // 128 + SIGKILL: the new profile was bound while it ran
        var delay = DateTimeOffset.FromUnixTimeMilliseconds(exited.FinishedAt / 1_000_000) - edited;
        Output.WriteLine($"annotation edit on the fake API server to container killed by the new profile: {delay.TotalMilliseconds:0} ms (probe calls personality every 20 ms)");

        var reselected = await Daemon.WaitForAsync(e => e.Message.Contains("Annotations of pod default/annotated changed", StringComparison.Ordinal), Patience, "the re-selection");
        Assert.Equal("kill-personality", reselected["Profile"]);
        var changed = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileChanged" && On(e, "Pod", "default", "annotated", pod.Uid), "SeccompProfileChanged");
        Assert.Contains("kill-personality", Message(changed));
        Assert.Contains("was log-personality", Message(changed));
    }

    [Fact]
    public async Task A_removed_annotation_reverts_the_running_container_to_the_configured_default()
    {
        var pod = await RunPodAsync("reverted", GatedProbe, Profile("kill-personality"));
        Assert.Equal("kill-personality", (await PsRowAsync(pod.ContainerId)).GetProperty("profile").GetString());

        Api.UpsertPod(pod.Namespace, pod.Name, pod.Uid, NodeName, new Dictionary<string, string>());
        await Daemon.WaitForAsync(e => e.Message.Contains("Annotations of pod default/reverted changed", StringComparison.Ordinal)
            && e["Profile"] == "log-personality", Patience, "the re-selection of the default profile");
        Assert.Equal("log-personality", (await PsRowAsync(pod.ContainerId)).GetProperty("profile").GetString());

        await ReleaseGateAsync(pod.ContainerId);
        await WaitForSyscallEventAsync("default/reverted", "Log");
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(pod.ContainerId));
    }

    protected override string? DefaultProfile => "log-personality";

    [Fact]
    public async Task Watch_expiry_and_reconnect_lose_no_edit_and_an_edit_made_while_the_watch_was_down_is_applied_after_relist()
    {
        var pod = await RunPodAsync("resilient", GatedProbe, Profile("log-personality"));

        // Edit 1 over a live watch: kill, but only audited.
        Api.UpsertPod(pod.Namespace, pod.Name, pod.Uid, NodeName, new Dictionary<string, string>
        {
            ["seccomp-ebpf.io/profile"] = "kill-personality",
            ["seccomp-ebpf.io/mode"] = "audit",
        });
        await Daemon.WaitForAsync(e => e.Message.Contains("Annotations of pod default/resilient changed", StringComparison.Ordinal)
            && e["Profile"] == "kill-personality" && e["Mode"] == "Audit", Patience, "edit 1 (kill, audit)");
        Api.SendBookmarks();

        // The watch goes down; edit 2 happens meanwhile, and the history that holds it is compacted away.
        Api.TakeWatchesDown();
        await Daemon.WaitForAsync(e => e.Message.StartsWith("Watch of pods on node", StringComparison.Ordinal) && e.Message.Contains("failed", StringComparison.Ordinal),
            Patience, "the failed watch while the fake API server's watches are down");
        Api.UpsertPod(pod.Namespace, pod.Name, pod.Uid, NodeName, Profile("kill-personality"));
        Api.CompactHistory();
        Assert.Equal("audit", (await PsRowAsync(pod.ContainerId)).GetProperty("mode").GetString());

        var listsBefore = Api.Requests.Count(r => r.StartsWith("GET /api/v1/pods?", StringComparison.Ordinal) && !r.Contains("watch=true", StringComparison.Ordinal));
        Api.BringWatchesUp();
        await Daemon.WaitForAsync(e => e.Message.StartsWith("Watch of pods on node", StringComparison.Ordinal) && e.Message.Contains("expired", StringComparison.Ordinal),
            Patience, "the 410 Gone on reconnect");
        await Daemon.WaitForAsync(e => e.Message.Contains("Annotations of pod default/resilient changed", StringComparison.Ordinal)
            && e["Profile"] == "kill-personality" && e["Mode"] == "Enforce", Patience, "edit 2 (kill, enforce) after the relist");
        Assert.True(Api.Requests.Count(r => r.StartsWith("GET /api/v1/pods?", StringComparison.Ordinal) && !r.Contains("watch=true", StringComparison.Ordinal)) > listsBefore,
            "the daemon did not relist after 410 Gone");
        Assert.Contains(Api.Requests, r => r.Contains("watch=true", StringComparison.Ordinal) && r.Contains("allowWatchBookmarks=true", StringComparison.Ordinal)
            && r.Contains("fieldSelector=spec.nodeName%3D" + NodeName, StringComparison.Ordinal));

        await ReleaseGateAsync(pod.ContainerId);
        Assert.Equal(137, (await WaitForExitAsync(pod.ContainerId)).ExitCode);
    }

    [Fact]
    public async Task A_dropped_watch_resumes_from_the_last_bookmark_without_relisting_and_delivers_the_edit_made_meanwhile()
    {
        var pod = await RunPodAsync("bookmarked", GatedProbe, Profile("log-personality"));
        // Changes this node's watch never sees (another node's pod) move the resourceVersion; the bookmark carries it.
        Api.UpsertPod("default", "elsewhere", Guid.NewGuid().ToString(), "another-node", Profile("kill-personality"));
        var bookmark = Api.ResourceVersion;
        Api.SendBookmarks();
        await Task.Delay(200); // let the bookmark travel before the cut

        Api.TakeWatchesDown();
        await Daemon.WaitForAsync(e => e.Message.StartsWith("Watch of pods on node", StringComparison.Ordinal) && e.Message.Contains("failed", StringComparison.Ordinal),
            Patience, "the failed watch while the fake API server's watches are down");
        var listsBefore = Api.Requests.Count(r => r.StartsWith("GET /api/v1/pods?", StringComparison.Ordinal) && !r.Contains("watch=true", StringComparison.Ordinal));
        Api.UpsertPod(pod.Namespace, pod.Name, pod.Uid, NodeName, Profile("kill-personality"));
        Api.BringWatchesUp();

        await Daemon.WaitForAsync(e => e.Message.Contains("Annotations of pod default/bookmarked changed", StringComparison.Ordinal)
            && e["Profile"] == "kill-personality", Patience, "the edit made while the watch was down");
        var watches = Api.Requests.Where(r => r.StartsWith("GET /api/v1/pods?", StringComparison.Ordinal) && r.Contains("watch=true", StringComparison.Ordinal)).ToList();
        Output.WriteLine(string.Join('\n', watches));
        Assert.Contains(watches, r => System.Text.RegularExpressions.Regex.IsMatch(r, $"[?&]resourceVersion={bookmark}(&|$)"));
        Assert.Equal(listsBefore, Api.Requests.Count(r => r.StartsWith("GET /api/v1/pods?", StringComparison.Ordinal) && !r.Contains("watch=true", StringComparison.Ordinal)));
        Assert.DoesNotContain(Daemon.Entries, e => e.Message.StartsWith("Watch of pods on node", StringComparison.Ordinal) && e.Message.Contains("expired", StringComparison.Ordinal));

        await ReleaseGateAsync(pod.ContainerId);
        Assert.Equal(137, (await WaitForExitAsync(pod.ContainerId)).ExitCode);
    }
}
