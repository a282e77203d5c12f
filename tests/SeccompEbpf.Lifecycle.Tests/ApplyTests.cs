using SeccompEbpf.Bpf.Enforcement;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>`seccomp-ebpf apply`: a new profile or mode for a pod's or one container's policy, bound at once when it runs.</summary>
public sealed class ApplyTests
{
    private static (LifecycleHarness H, ContainerRecord App, ContainerRecord Sidecar) TwoRunningContainers()
    {
        var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("other", OtherProfile);
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "web" });
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1", "app"));
        var sidecar = h.CreateAndStart(pod, Container("c-sidecar-0001", "p1", "sidecar"));
        h.Engine.ClearCalls();
        return (h, app, sidecar);
    }

    [Fact]
    public void AProfileAppliedToAPodRebindsItsRunningContainers()
    {
        var (h, app, sidecar) = TwoRunningContainers();
        using var _ = h;

        var changed = h.Controller.Apply("default/web", null, "other", null);

        Assert.Equal(["c-app-0001", "c-sidecar-0001"], changed.Order(StringComparer.Ordinal));
        var other = h.Profiles.Get("other").Compiled.Hash;
        Assert.Equal(other, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
        Assert.Equal(other, h.Engine.BindingOf(sidecar.CgroupId)!.ProfileHash);
        Assert.All(h.Engine.Calls, c => Assert.Equal("rebind", c.Operation));
        Assert.Equal("other", h.Controller.PolicyOf("c-app-0001")!.ProfileReference);
    }

    [Fact]
    public void AModeAppliedByContainerIdPrefixChangesOnlyThatContainer()
    {
        var (h, app, sidecar) = TwoRunningContainers();
        using var _ = h;

        h.Controller.Apply(null, "c-app-", null, "audit");

        Assert.Equal([new EngineCall("rebind", app.CgroupId, h.Profiles.Get("web").Compiled.Hash, EnforcementMode.Audit)], h.Engine.Calls);
        Assert.Equal(PolicyState.Audited, h.Controller.PolicyOf("c-app-0001")!.State);
        Assert.Equal(EnforcementMode.Enforce, h.Engine.BindingOf(sidecar.CgroupId)!.Mode);
    }

    [Fact]
    public void ModeOffUnbinds()
    {
        var (h, app, _) = TwoRunningContainers();
        using var __ = h;

        h.Controller.Apply(null, "c-app-0001", null, "off");

        Assert.Equal([new EngineCall("unbind", app.CgroupId)], h.Engine.Calls);
        Assert.Null(h.Engine.BindingOf(app.CgroupId));
        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c-app-0001")!.State);
    }

    [Fact]
    public void AProfileAppliedBeforeStartIsBoundAtStart()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("other", OtherProfile);
        var pod = Pod("p1");
        h.Create(pod, Container("c-app-0001", "p1"));

        h.Controller.Apply("default/web", null, "other", null);
        Assert.Empty(h.Engine.Calls);
        Assert.Equal(PolicyState.Pending, h.Controller.PolicyOf("c-app-0001")!.State);

        var started = h.Start(pod, Container("c-app-0001", "p1"));
        Assert.Equal(h.Profiles.Get("other").Compiled.Hash, h.Engine.BindingOf(started.CgroupId)!.ProfileHash);
    }

    [Theory]
    [InlineData("default/nosuch", null, "web", null, "no pod default/nosuch")]
    [InlineData("nonamespace", null, "web", null, "must be NAMESPACE/NAME")]
    [InlineData(null, "c-nosuch", "web", null, "no container with id c-nosuch")]
    [InlineData(null, "c-", "web", null, "no container with id c-")] // a prefix shorter than 6 characters matches nothing
    [InlineData("default/web", null, null, "sometimes", "mode \"sometimes\" must be enforce, audit or off")]
    [InlineData("default/web", null, "missing", null, "profile \"missing\"")]
    public void AnInvalidApplyChangesNothing(string? pod, string? container, string? profile, string? mode, string expected)
    {
        var (h, app, _) = TwoRunningContainers();
        using var __ = h;
        var before = h.Controller.PolicyOf("c-app-0001");

        var e = Assert.Throws<PolicySelectionException>(() => h.Controller.Apply(pod, container, profile, mode));

        Assert.Contains(expected, e.Message);
        Assert.Empty(h.Engine.Calls);
        Assert.Equal(before, h.Controller.PolicyOf("c-app-0001"));
        Assert.Equal(h.Profiles.Get("web").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
    }

    [Fact]
    public void AnEngineFailureDuringApplyIsARefusalNotAnException()
    {
        var (h, _, _) = TwoRunningContainers();
        using var __ = h;
        h.Engine.ThrowAtBind = new InvalidOperationException("bpf_map_update_elem(slots): No space left on device");

        h.Controller.Apply(null, "c-app-0001", "other", null);

        var policy = h.AssertRefused("c-app-0001", "profile \"other\" cannot be enforced: ");
        Assert.EndsWith("bpf_map_update_elem(slots): No space left on device", policy.Reason);
    }
}
