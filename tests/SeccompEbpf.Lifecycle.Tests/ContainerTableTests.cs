using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Nri;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>
/// The container table is the one owner of container state: which container owns a cgroup, what ps lists and what the
/// engine may keep bound are all read from its entries, and nothing else keeps a copy that could disagree.
/// </summary>
public sealed class ContainerTableTests
{
    private static Dictionary<string, string> ProfileAnnotation(string reference) => new() { [PolicyAnnotations.Profile] = reference };

    private static ContainerRecord Running(string id, string podId, ulong cgroupId) =>
        Container(id, podId) with { Phase = ContainerPhase.Started, Pid = 100 + (int)(cgroupId % 1000), CgroupId = cgroupId };

    [Fact]
    public void TheOwnerOfACgroupFollowsTheContainerThroughStopAndRestart()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1");
        var first = h.CreateAndStart(pod, Container("c1", "p1"));
        Assert.Equal("c1", h.Controller.ContainerOfCgroup(first.CgroupId));

        h.Table.UpdateListedContainer(first with { Phase = ContainerPhase.Stopped });
        h.Controller.Release("c1", forget: false);
        Assert.Null(h.Controller.ContainerOfCgroup(first.CgroupId));

        var second = h.Start(pod, Container("c1", "p1")); // the same container, a new cgroup
        Assert.NotEqual(first.CgroupId, second.CgroupId);
        Assert.Null(h.Controller.ContainerOfCgroup(first.CgroupId));
        Assert.Equal("c1", h.Controller.ContainerOfCgroup(second.CgroupId));
        Assert.Equal([second.CgroupId], h.Engine.Bindings.Select(b => b.CgroupId));
        Assert.Equal(second.CgroupId, h.Controller.PolicyOf("c1")!.BoundCgroupId);
    }

    [Fact]
    public void TheOwnerOfACgroupSurvivesARebindAfterAnEdit()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var started = h.CreateAndStart(Pod("p1", ProfileAnnotation("web")), Container("c1", "p1"));

        h.AwaitReload("web", () => h.WriteProfile("web", EditedProfile));

        Assert.Equal("c1", h.Controller.ContainerOfCgroup(started.CgroupId));
        Assert.Equal(2, h.Controller.PolicyOf("c1")!.Profile!.Version);
        var owner = h.Table.OwnerOfCgroup(started.CgroupId)!.Value;
        Assert.Equal("web", owner.Pod!.Name);
        Assert.Equal(h.Controller.PolicyOf("c1"), owner.Entry.Policy);
    }

    [Fact]
    public void AVetoedContainerLeavesTheTable()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", ProfileAnnotation("web"));
        h.Create(pod, Container("c1", "p1"));
        Assert.NotNull(h.Table.Find("c1")); // listed from CreateContainer on, pending
        h.Engine.ThrowAtBind = new InvalidOperationException("bpf_map_update_elem(rules): Argument list too long");

        Assert.Throws<NriVetoException>(() => h.Start(pod, Container("c1", "p1")));

        Assert.Null(h.Table.Find("c1"));
        Assert.Null(h.Controller.PolicyOf("c1"));
        Assert.DoesNotContain(h.Table.Snapshot().Entries, e => e.Id == "c1");
        // StopContainer for the vetoed container must not list it again.
        Assert.False(h.Table.UpdateListedContainer(Container("c1", "p1") with { Phase = ContainerPhase.Stopped }));
        Assert.Null(h.Table.Find("c1"));
    }

    [Fact]
    public void AStartForAContainerDroppedMeanwhileBindsNothing()
    {
        // StartContainer's decision came too late: the handler vetoed it and dropped the container; the late decision
        // must not bring it back or bind its cgroup.
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1");
        h.Create(pod, Container("c1", "p1"));
        h.Controller.Release("c1", forget: true);

        h.Controller.Start(pod, Running("c1", "p1", 4001));

        Assert.Null(h.Table.Find("c1"));
        Assert.Empty(h.Engine.Calls);
    }

    [Fact]
    public void ReconcileRemovesBindingsNoEntryOwnsAndNeverListsThem()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1");
        var running = h.CreateAndStart(pod, Container("c1", "p1"));
        var hash = h.Controller.PolicyOf("c1")!.Profile!.Compiled.Hash;
        h.Engine.Adopt(7001, hash); // pinned by a daemon before: no container of this node's runtime uses it
        h.Engine.ClearCalls();

        h.Controller.Reconcile();

        Assert.Contains(new EngineCall("unbind", 7001), h.Engine.Calls);
        Assert.Equal([running.CgroupId], h.Engine.Bindings.Select(b => b.CgroupId));
        Assert.Equal(["c1"], h.Table.Snapshot().Entries.Select(e => e.Id));
        Assert.Null(h.Controller.ContainerOfCgroup(7001));
    }

    [Fact]
    public void ASynchronizeKeepsThePolicyOfListedContainersAndDropsTheRest()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1");
        var kept = h.CreateAndStart(pod, Container("c-kept", "p1", "kept"));
        var gone = h.CreateAndStart(pod, Container("c-gone", "p1", "gone"));
        var keptPolicy = h.Controller.PolicyOf("c-kept");

        h.Table.ReplaceAll([pod], [kept]);

        Assert.Same(keptPolicy, h.Controller.PolicyOf("c-kept"));
        Assert.Null(h.Table.Find("c-gone"));
        Assert.Null(h.Controller.ContainerOfCgroup(gone.CgroupId)); // the index is the entries' own
        Assert.Equal("c-kept", h.Controller.ContainerOfCgroup(kept.CgroupId));
        Assert.Contains(gone.CgroupId, h.Engine.Bindings.Select(b => b.CgroupId)); // until Reconcile finds it stale
        h.Controller.Reconcile();
        Assert.Equal([kept.CgroupId], h.Engine.Bindings.Select(b => b.CgroupId));
    }

    [Fact]
    public void ARemovedPodTakesItsContainersAndTheirCgroupsWithIt()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var started = h.CreateAndStart(Pod("p1"), Container("c1", "p1"));
        h.CreateAndStart(Pod("p2", name: "other"), Container("c2", "p2"));

        h.Table.RemovePod("p1");

        Assert.Null(h.Table.FindPod("p1"));
        Assert.Null(h.Table.Find("c1"));
        Assert.Null(h.Controller.ContainerOfCgroup(started.CgroupId));
        Assert.Equal(["c2"], h.Table.Snapshot().Entries.Select(e => e.Id));
    }

    [Fact]
    public void TheTableRefusesWritesWithoutItsLock()
    {
        var table = new ContainerTable();
        var entry = new ContainerEntry(Container("c1", "p1"), null);

        Assert.Throws<InvalidOperationException>(() => table.Put(entry));
        Assert.Throws<InvalidOperationException>(() => table.Remove("c1"));
        using (table.Enter())
            table.Put(entry);
        Assert.Equal(entry, table.Find("c1"));
    }
}
