using System.Text.Json;
using Grpc.Core;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>Kubernetes Events (received by a FAKE API server) name the right pod, reason and problem.</summary>
public sealed class KubernetesEventTests(ITestOutputHelper output) : KubernetesTestBed(output)
{
    [Fact]
    public async Task A_vetoed_container_gets_a_warning_event_on_its_pod_naming_the_annotation_and_the_problem()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => RunPodAsync("vetoed", Probe, Profile("does-not-exist")));
        var vetoed = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileVetoed", "SeccompProfileVetoed");
        Output.WriteLine(vetoed.ToJsonString());
        Assert.True(On(vetoed, "Pod", "default", "vetoed"), vetoed.ToJsonString());
        Assert.Equal("v1", vetoed["involvedObject"]?["apiVersion"]?.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(vetoed["involvedObject"]?["uid"]?.GetValue<string>()));
        Assert.Equal("Warning", vetoed["type"]?.GetValue<string>());
        Assert.Equal("default", vetoed["metadata"]?["namespace"]?.GetValue<string>());
        Assert.Equal("seccomp-ebpf", vetoed["source"]?["component"]?.GetValue<string>());
        Assert.Equal(NodeName, vetoed["source"]?["host"]?.GetValue<string>());
        var message = Message(vetoed);
        Assert.Contains("container probe vetoed", message);
        Assert.Contains("seccomp-ebpf.io/profile", message);
        Assert.Contains("does-not-exist", message);
        Assert.Contains("not found", message);
        Assert.Contains("does-not-exist", error.Status.Detail);
    }

    [Fact]
    public async Task Applying_and_changing_a_profile_are_normal_events_on_the_pod_with_its_uid()
    {
        var pod = await RunPodAsync("reported", GatedProbe, Profile("log-personality"));
        var applied = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileApplied" && On(e, "Pod", "default", "reported", pod.Uid), "SeccompProfileApplied");
        Assert.Equal("Normal", applied["type"]?.GetValue<string>());
        Assert.Contains("container probe: profile log-personality v1", Message(applied));
        Assert.Contains("mode enforce", Message(applied));

        var (code, _, stderr) = await CliAsync("apply", "--pod", "default/reported", "--mode", "audit");
        Assert.True(code == 0, stderr);
        var changed = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileChanged" && On(e, "Pod", "default", "reported", pod.Uid), "SeccompProfileChanged");
        Assert.Contains("mode audit", Message(changed));
        Assert.Contains("mode enforce)", Message(changed)); // "(was HASH, mode enforce)"
    }

    [Fact]
    public async Task Degraded_enforcement_on_this_node_is_a_warning_event_exactly_when_the_binding_is_degraded()
    {
        // ERRNO needs BPF LSM. Where it is missing, degrade-to-log turns it into LOG, and that must be reported.
        WriteProfile("errno-personality", """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}""");
        var pod = await RunPodAsync("degraded", GatedProbe, Profile("errno-personality"));
        var row = await PsRowAsync(pod.ContainerId);
        var errno = row.GetProperty("enforcement").EnumerateArray().Single(l => l.GetProperty("action").GetString()!.StartsWith("Errno", StringComparison.Ordinal));
        var degradedHere = errno.GetProperty("mechanism").GetString() == "Degraded";
        Output.WriteLine($"ERRNO on this kernel: {errno.GetProperty("mechanism").GetString()} ({errno.GetProperty("note")})");
        await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileApplied" && On(e, "Pod", "default", "degraded", pod.Uid), "SeccompProfileApplied");
        if (degradedHere)
        {
            var degraded = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompEnforcementDegraded" && On(e, "Pod", "default", "degraded", pod.Uid), "SeccompEnforcementDegraded");
            Assert.Equal("Warning", degraded["type"]?.GetValue<string>());
            Assert.Contains("errno-personality is degraded on this node", Message(degraded));
            Assert.Contains($"(node {NodeName})", Message(degraded));
        }
        else
        {
            // Events are posted in order from one queue: once Applied is in, a Degraded would have been too.
            Assert.DoesNotContain(Api.Events, e => Reason(e) == "SeccompEnforcementDegraded");
        }
    }

    protected override string? OnUnenforceable => "degrade-to-log";
}
