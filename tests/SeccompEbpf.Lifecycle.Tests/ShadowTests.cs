using SeccompEbpf.Bpf.Enforcement;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>The seccomp-ebpf.io/shadow annotation and `apply --shadow/--no-shadow/--promote-shadow`, against the fake engine.</summary>
public class ShadowTests
{
    private static Dictionary<string, string> Annotations(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public void TheAnnotationSetsTheShadowAfterTheProfileInForceAtStartContainer()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("candidate", OtherProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/mode", "audit"), ("seccomp-ebpf.io/shadow.app", "candidate")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));
        var other = h.CreateAndStart(pod, Container("c-other-0001", "p1", name: "other"));

        var candidate = h.Profiles.Get("candidate").Compiled.Hash;
        Assert.Equal(new EngineCall("shadow", app.CgroupId, candidate), h.Engine.Calls[1]);
        Assert.Equal("bind", h.Engine.Calls[0].Operation);
        var policy = h.Controller.PolicyOf("c-app-0001")!;
        Assert.Equal((PolicyState.Audited, "candidate", (string?)null), (policy.State, policy.ShadowReference, policy.ShadowProblem));
        Assert.Equal(candidate, h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        Assert.Equal((3UL, 2UL), (h.Controller.ShadowCountsOf(policy)!.Differences, h.Controller.ShadowCountsOf(policy)!.Denials));
        // the annotation names the container: its sibling has no shadow
        Assert.Null(h.Engine.BindingOf(other.CgroupId)!.ShadowHash);
        Assert.Null(h.Controller.ShadowCountsOf(h.Controller.PolicyOf("c-other-0001")));
    }

    [Fact]
    public void AnUnknownShadowIsReportedAndTheContainerKeepsItsProfile()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/shadow", "no-such-profile")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));

        var policy = h.Controller.PolicyOf("c-app-0001")!;
        Assert.Equal(PolicyState.Enforced, policy.State);
        Assert.Equal(h.Profiles.Get("web").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
        Assert.Null(h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        Assert.Contains("shadow profile \"no-such-profile\" (annotation seccomp-ebpf.io/shadow (pod)) is not evaluated", policy.ShadowProblem);
        Assert.DoesNotContain(h.Engine.Calls, c => c.Operation == "shadow");
        Assert.Single(h.Notices, n => n.Kind == PolicyNoticeKind.NotEnforced && n.Message.Contains("no-such-profile") && n.Message.Contains("the profile in force is unchanged"));
    }

    [Fact]
    public void AnEmptyShadowAnnotationIsAnInvalidAnnotation()
    {
        var e = Assert.Throws<PolicySelectionException>(() => PolicyAnnotations.Select(
            Annotations(("seccomp-ebpf.io/shadow", " ")), Annotations(), "app", defaultProfile: null, honourLegacyAnnotations: false));
        Assert.Contains("seccomp-ebpf.io/shadow (pod): the shadow profile reference is empty", e.Message);
    }

    [Fact]
    public void AShadowTheEngineRefusesLeavesTheBindingInForce()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("candidate", OtherProfile);
        h.Engine.ThrowAtShadow = new EnforcementRefusedException("shadow profile abc could not be enforced on cgroup 1000 (OnUnenforceable=Refuse): chmod", ["chmod"]);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/shadow", "candidate")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));

        var policy = h.Controller.PolicyOf("c-app-0001")!;
        Assert.Equal(PolicyState.Enforced, policy.State);
        Assert.Equal(h.Profiles.Get("web").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
        Assert.Contains("shadow profile \"candidate\" is not evaluated: shadow profile abc could not be enforced", policy.ShadowProblem);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.NotEnforced && n.Message.Contains("the profile in force is unchanged"));
    }

    [Fact]
    public void PromotionEnforcesTheShadowWithOneRebindAndClearsIt()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("candidate", OtherProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/mode", "audit"), ("seccomp-ebpf.io/shadow", "candidate")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));
        h.Engine.ClearCalls();

        Assert.Equal(["c-app-0001"], h.Controller.PromoteShadow("default/web", null));

        var candidate = h.Profiles.Get("candidate").Compiled.Hash;
        Assert.Equal([new EngineCall("rebind", app.CgroupId, candidate, EnforcementMode.Enforce), new EngineCall("clear-shadow", app.CgroupId)], h.Engine.Calls);
        var policy = h.Controller.PolicyOf("c-app-0001")!;
        Assert.Equal((PolicyState.Enforced, "candidate", (string?)null), (policy.State, policy.ProfileReference, policy.ShadowReference));
        Assert.Null(h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.Changed && n.Message.Contains("profile candidate") && n.Message.Contains("was web"));

        // nothing left to promote: a clear error, and nothing changes
        h.Engine.ClearCalls();
        var e = Assert.Throws<PolicySelectionException>(() => h.Controller.PromoteShadow(null, "c-app-0001"));
        Assert.Contains("has no shadow in place to promote", e.Message);
        Assert.Empty(h.Engine.Calls);
    }

    [Fact]
    public void ApplySetsAndClearsAShadowWithoutTouchingTheProfileInForce()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("candidate", OtherProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));
        var unmanaged = h.CreateAndStart(Pod("p2", name: "bare"), Container("c-bare-0001", "p2"));
        var web = h.Profiles.Get("web").Compiled.Hash;

        h.Controller.ApplyShadow(null, "c-app-0001", "candidate", clear: false);
        Assert.Equal(h.Profiles.Get("candidate").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        Assert.Equal(web, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);

        // a bad reference changes nothing
        Assert.Throws<PolicySelectionException>(() => h.Controller.ApplyShadow(null, "c-app-0001", "no-such-profile", clear: false));
        Assert.Equal("candidate", h.Controller.PolicyOf("c-app-0001")!.ShadowReference);
        // a container with no profile in force has nothing to compare a shadow with
        var bare = Assert.Throws<PolicySelectionException>(() => h.Controller.ApplyShadow(null, "c-bare-0001", "candidate", clear: false));
        Assert.Contains("has no profile in force", bare.Message);
        Assert.Null(h.Engine.BindingOf(unmanaged.CgroupId));

        h.Controller.ApplyShadow("default/web", null, null, clear: true);
        Assert.Null(h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        Assert.Equal(web, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
        Assert.Null(h.Controller.PolicyOf("c-app-0001")!.ShadowReference);
    }

    [Fact]
    public void AnEditedShadowProfileIsReloadedAndAnAnnotationEditReplacesTheShadow()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("candidate", OtherProfile);
        h.WriteProfile("candidate-2", """{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chown"], "action": "SCMP_ACT_ERRNO"}]}""");
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/shadow", "candidate")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));

        var edited = h.AwaitReload("candidate", () => h.WriteProfile("candidate", EditedProfile));
        Assert.Equal(edited.Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        Assert.Equal(h.Profiles.Get("web").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);

        h.Controller.Reselect("default", "web", pod.Uid, Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/shadow", "candidate-2")));
        Assert.Equal(h.Profiles.Get("candidate-2").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
        h.Controller.Reselect("default", "web", pod.Uid, Annotations(("seccomp-ebpf.io/profile", "web")));
        Assert.Null(h.Engine.BindingOf(app.CgroupId)!.ShadowHash);
    }

    [Fact]
    public void AnAnnotationEditThatNamesTheShadowAsTheProfilePromotesIt()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        h.WriteProfile("candidate", OtherProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/mode", "audit"), ("seccomp-ebpf.io/shadow", "candidate")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));
        h.Engine.ClearCalls();

        Assert.Equal(["c-app-0001"], h.Controller.Reselect("default", "web", pod.Uid, Annotations(("seccomp-ebpf.io/profile", "candidate"))));

        var candidate = h.Profiles.Get("candidate").Compiled.Hash;
        Assert.Equal([new EngineCall("rebind", app.CgroupId, candidate, EnforcementMode.Enforce), new EngineCall("clear-shadow", app.CgroupId)], h.Engine.Calls);
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c-app-0001")!.State);
    }
}
