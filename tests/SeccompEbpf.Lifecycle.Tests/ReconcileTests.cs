using SeccompEbpf.Bpf.Enforcement;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>
/// After Synchronize (a restarted daemon, or a new connection): running containers keep or get their binding,
/// bindings of containers that no longer run are removed, and removed containers are forgotten.
/// </summary>
public sealed class ReconcileTests
{
    private static ContainerRecord Running(string id, string podId, string name, ulong cgroupId) =>
        Container(id, podId, name) with { Phase = ContainerPhase.Started, Pid = 100 + (int)(cgroupId % 1000), CgroupId = cgroupId };

    [Fact]
    public void ARestartedDaemonAdoptsPinnedBindingsAndRemovesStaleOnes()
    {
        // A fresh controller over an engine that found bindings pinned by the previous daemon.
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var hash = h.Profiles.Get("web").Compiled.Hash;
        h.Engine.Adopt(2001, hash);
        h.Engine.Adopt(2999, hash); // its container went away while no daemon ran
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "web" });
        h.Table.ReplaceAll([pod], [
            Running("c-adopted", "p1", "adopted", 2001),
            Running("c-unbound", "p1", "unbound", 2002),
            Container("c-created", "p1", "created"),
        ]);

        h.Controller.Reconcile();

        Assert.Equal([2001UL, 2002UL], h.Engine.Bindings.Select(b => b.CgroupId));
        Assert.All(h.Engine.Bindings, b => Assert.Equal(hash, b.ProfileHash));
        Assert.Contains(new EngineCall("unbind", 2999), h.Engine.Calls);
        Assert.DoesNotContain(h.Engine.Calls, c => c.Operation == "unbind" && c.CgroupId != 2999);
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c-adopted")!.State);
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c-unbound")!.State);
        Assert.Null(h.Controller.PolicyOf("c-created")); // selected at its StartContainer
        Assert.Equal("c-adopted", h.Controller.ContainerOfCgroup(2001));
        // The adopted binding was already in force before the restart: nothing new to announce.
        Assert.DoesNotContain(h.Notices, n => n.Container == "adopted");
    }

    [Fact]
    public void ContainersRemovedWhileDisconnectedAreForgottenAndUnbound()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1");
        var kept = h.CreateAndStart(pod, Container("c-kept", "p1", "kept"));
        var gone = h.CreateAndStart(pod, Container("c-gone", "p1", "gone"));
        h.Engine.ClearCalls();

        // The runtime's view at Synchronize no longer lists c-gone.
        h.Table.ReplaceAll([pod], [kept]);
        h.Controller.Reconcile();

        Assert.Null(h.Controller.PolicyOf("c-gone"));
        Assert.Contains(new EngineCall("unbind", gone.CgroupId), h.Engine.Calls);
        Assert.Equal([kept.CgroupId], h.Engine.Bindings.Select(b => b.CgroupId));
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c-kept")!.State);
    }

    [Fact]
    public void ARunningContainerThatCanNoLongerBeVetoedIsReportedRefused()
    {
        using var h = new LifecycleHarness();
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "missing" });
        h.Table.ReplaceAll([pod], [Running("c1", "p1", "app", 3001)]);

        h.Controller.Reconcile(); // no exception: too late to veto

        var policy = h.Controller.PolicyOf("c1")!;
        Assert.Equal(PolicyState.Refused, policy.State);
        Assert.Contains("profile \"missing\"", policy.Reason);
        Assert.Empty(h.Engine.Calls);
    }

    [Fact]
    public void AnEngineFailureDuringReconcileIsARefusalNotAnException()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1");
        h.Table.ReplaceAll([pod], [Running("c1", "p1", "app", 3001)]);
        h.Engine.ThrowAtBind = new InvalidOperationException("bpf_map_update_elem(bindings): Cannot allocate memory");

        h.Controller.Reconcile();

        var policy = h.AssertRefused("c1", "profile \"runtime/default\" cannot be enforced: ");
        Assert.EndsWith("Cannot allocate memory", policy.Reason);
    }
}
