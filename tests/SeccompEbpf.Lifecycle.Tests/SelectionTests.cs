using SeccompEbpf.Bpf.Enforcement;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>Which profile and mode a container gets from its pod's and its own annotations, and the configured default.</summary>
public sealed class SelectionTests
{
    private static Dictionary<string, string> Annotations(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public void ThePodAnnotationSelectsAProfileThatIsBoundAtStart()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", Annotations((PolicyAnnotations.Profile, "web")));

        h.Create(pod, Container("c1", "p1"));
        Assert.Empty(h.Engine.Calls); // nothing is bound before the container has a cgroup
        Assert.Equal(PolicyState.Pending, h.Controller.PolicyOf("c1")!.State);

        var started = h.Start(pod, Container("c1", "p1"));
        var call = Assert.Single(h.Engine.Calls);
        Assert.Equal(new EngineCall("bind", started.CgroupId, h.Profiles.Get("web").Compiled.Hash, EnforcementMode.Enforce), call);
        var policy = h.Controller.PolicyOf("c1")!;
        Assert.Equal(PolicyState.Enforced, policy.State);
        Assert.Equal(started.CgroupId, policy.BoundCgroupId);
        Assert.Equal("c1", h.Controller.ContainerOfCgroup(started.CgroupId));
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.Applied && n.Container == "app" && n.Pod == "web");
    }

    [Fact]
    public void PerContainerAnnotationsWinOverThePods()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("general", ReferenceProfile);
        h.WriteProfile("sidecar-only", OtherProfile);
        h.WriteProfile("own", EditedProfile);
        var pod = Pod("p1", Annotations((PolicyAnnotations.Profile, "general"), ($"{PolicyAnnotations.Profile}.sidecar", "sidecar-only")));

        var app = h.CreateAndStart(pod, Container("c-app", "p1", "app"));
        var sidecar = h.CreateAndStart(pod, Container("c-sidecar", "p1", "sidecar"));
        var own = h.CreateAndStart(pod, Container("c-own", "p1", "own", Annotations((PolicyAnnotations.Profile, "own"))));

        Assert.Equal(h.Profiles.Get("general").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
        Assert.Equal(h.Profiles.Get("sidecar-only").Compiled.Hash, h.Engine.BindingOf(sidecar.CgroupId)!.ProfileHash);
        Assert.Equal(h.Profiles.Get("own").Compiled.Hash, h.Engine.BindingOf(own.CgroupId)!.ProfileHash);
    }

    [Fact]
    public void TheModeAnnotationAuditsInsteadOfEnforcing()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", Annotations((PolicyAnnotations.Profile, "web"), (PolicyAnnotations.Mode, "audit")));

        var started = h.CreateAndStart(pod, Container("c1", "p1"));

        Assert.Equal(EnforcementMode.Audit, h.Engine.BindingOf(started.CgroupId)!.Mode);
        Assert.Equal(PolicyState.Audited, h.Controller.PolicyOf("c1")!.State);
    }

    [Fact]
    public void TheDefaultProfileAppliesToContainersWithoutAnnotations()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");

        var started = h.CreateAndStart(Pod("p1"), Container("c1", "p1"));

        Assert.Equal(h.Profiles.Get("runtime/default").Compiled.Hash, h.Engine.BindingOf(started.CgroupId)!.ProfileHash);
        Assert.Equal("runtime/default", h.Controller.PolicyOf("c1")!.ProfileReference);
    }

    [Fact]
    public void WithoutAnnotationsOrDefaultAContainerIsUnmanaged()
    {
        using var h = new LifecycleHarness();

        h.CreateAndStart(Pod("p1"), Container("c1", "p1"));

        Assert.Empty(h.Engine.Calls);
        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c1")!.State);
    }

    [Theory]
    [InlineData(PolicyAnnotations.Profile, "unconfined")]
    [InlineData(PolicyAnnotations.Mode, "off")]
    public void UnconfinedOrModeOffOverridesTheDefault(string key, string value)
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");

        h.CreateAndStart(Pod("p1", Annotations((key, value))), Container("c1", "p1"));

        Assert.Empty(h.Engine.Calls);
        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c1")!.State);
    }

    [Fact]
    public void StopUnbindsAndRemoveForgets()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var container = h.CreateAndStart(Pod("p1"), Container("c1", "p1"));

        h.Controller.Release("c1", forget: false);
        Assert.Equal(new EngineCall("unbind", container.CgroupId), h.Engine.Calls[^1]);
        Assert.Empty(h.Engine.Bindings);
        Assert.Equal(PolicyState.Pending, h.Controller.PolicyOf("c1")!.State);
        Assert.Null(h.Controller.ContainerOfCgroup(container.CgroupId));

        h.Controller.Release("c1", forget: true);
        Assert.Null(h.Controller.PolicyOf("c1"));
    }
}
