using SeccompEbpf.Cri.V1;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// Profiles from ConfigMaps labelled seccomp-ebpf.io/profiles=true (served by a FAKE API server), referenced as
/// configmap/NAME, follow the ConfigMap like a profile file: live edits, last good version on a broken edit, fallback
/// to the default profile on removal, with Events.
/// </summary>
public sealed class KubernetesConfigMapProfileTests(ITestOutputHelper output) : KubernetesTestBed(output)
{
    private const string ConfigMapName = "team-profiles";

    protected override string? DefaultProfile => "log-personality";

    protected override void Prepare() =>
        Api.UpsertConfigMap(DaemonNamespace, ConfigMapName, ProfilesLabel, new Dictionary<string, string> { ["guard.json"] = LogPersonality });

    private void SetGuard(string? json) => Api.UpsertConfigMap(DaemonNamespace, ConfigMapName, ProfilesLabel,
        json is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["guard.json"] = json });

    [Fact]
    public async Task A_configmap_profile_is_added_changed_live_kept_on_a_broken_edit_and_falls_back_when_removed()
    {
        // Added: the ConfigMap existed when the daemon started; the pod's container uses it.
        var first = await RunPodAsync("cm-first", Probe, Profile("configmap/guard"));
        await WaitForSyscallEventAsync("default/cm-first", "Log");
        Assert.Equal("configmap/guard", (await PsRowAsync(first.ContainerId)).GetProperty("profile").GetString());
        var applied = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileApplied" && On(e, "Pod", "default", "cm-first", first.Uid), "SeccompProfileApplied");
        Assert.Contains("configmap/guard v1", Message(applied));

        // Broken: rejected with an Event on the ConfigMap; the LOG version stays in force.
        var broken = DateTimeOffset.UtcNow;
        SetGuard("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_BOGUS"}]}""");
        var rejected = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileRejected" && On(e, "ConfigMap", DaemonNamespace, ConfigMapName), "SeccompProfileRejected on the ConfigMap");
        Assert.Contains("SCMP_ACT_BOGUS", Message(rejected));
        Assert.Contains("last good version stays", Message(rejected));
        Assert.Equal("Warning", rejected["type"]?.GetValue<string>());
        await WaitForSyscallEventAsync("default/cm-first", "Log", after: broken.AddMilliseconds(500));
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(first.ContainerId));

        // Changed: KILL reaches the running container.
        var changedAt = DateTimeOffset.UtcNow;
        SetGuard(KillPersonality);
        var exited = await WaitForExitAsync(first.ContainerId);
        Assert.Equal(137, exited.ExitCode);
        Output.WriteLine($"ConfigMap edit to container killed: {(DateTimeOffset.FromUnixTimeMilliseconds(exited.FinishedAt / 1_000_000) - changedAt).TotalMilliseconds:0} ms");
        await Daemon.WaitForAsync(e => e.Message.Contains("Profile configmap/guard reloaded", StringComparison.Ordinal), Patience, "the reload");

        // Removed: a running container on it falls back to policy.defaultProfile (LOG) and survives its calls.
        var second = await RunPodAsync("cm-second", GatedProbe, Profile("configmap/guard"));
        Assert.Equal("configmap/guard", (await PsRowAsync(second.ContainerId)).GetProperty("profile").GetString());
        SetGuard(null);
        var removed = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileRemoved" && On(e, "Pod", "default", "cm-second", second.Uid), "SeccompProfileRemoved on the pod");
        Assert.Contains("configmap/guard", Message(removed));
        Assert.Contains("falls back to the default profile log-personality", Message(removed));
        Assert.Equal("log-personality", (await PsRowAsync(second.ContainerId)).GetProperty("profile").GetString());
        await ReleaseGateAsync(second.ContainerId);
        await WaitForSyscallEventAsync("default/cm-second", "Log");
        Assert.Equal(ContainerState.ContainerRunning, await StateOfAsync(second.ContainerId));

        // And a new container asking for the removed profile is vetoed with a message naming it.
        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => RunPodAsync("cm-third", Probe, Profile("configmap/guard")));
        Assert.Contains("configmap/guard", error.Status.Detail);
        Assert.Contains("not found", error.Status.Detail);
    }
}
