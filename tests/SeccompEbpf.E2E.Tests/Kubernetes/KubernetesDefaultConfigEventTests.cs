using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>Under the default configuration, a pod bound to runtime/default is told which syscalls are not prevented on this node.</summary>
public sealed class KubernetesDefaultConfigEventTests(ITestOutputHelper output) : KubernetesTestBed(output)
{
    protected override string? OnUnenforceable => null;

    [Fact]
    public async Task The_degraded_event_names_the_summary_and_the_syscalls_not_prevented()
    {
        var pod = await RunPodAsync("allowlisted", "sleep 30", Profile("runtime/default"));
        await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompProfileApplied" && On(e, "Pod", "default", "allowlisted", pod.Uid), "SeccompProfileApplied");
        // runtime/default's ERRNO default covers syscalls no LSM hook reaches (clone with namespace flags, reboot, ...):
        // on every kernel without error injection some of the default runs unprevented, and the pod hears which
        var degraded = await WaitForKubernetesEventAsync(e => Reason(e) == "SeccompEnforcementDegraded" && On(e, "Pod", "default", "allowlisted", pod.Uid), "SeccompEnforcementDegraded");
        var message = Message(degraded);
        Output.WriteLine(message);
        Assert.Equal("Warning", degraded["type"]?.GetValue<string>());
        Assert.Matches(new Regex(@"is degraded on this node \(exact \d+ · after-entry \d+ · not prevented [1-9]\d*; not prevented: [a-z_0-9]+(, [a-z_0-9]+)*"), message);
        Assert.Contains("clone", message);
        Assert.Contains("allowed and logged (onUnenforceable log-unpreventable-default)", message);
    }
}
