using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>
/// Live changes to profiles: an edit that compiles rebinds the running containers that use it, a broken edit or a
/// removed file keeps the last good version, and a removed ConfigMap profile falls back to the configured default.
/// </summary>
public sealed class ReloadTests
{
    private static PodRecord WebPod(string id, string profile = "web") => Pod(id, new Dictionary<string, string> { [PolicyAnnotations.Profile] = profile });

    /// <summary>A harness with container c1 running on profile "web" (version 1) and the engine's call log cleared.</summary>
    private static (LifecycleHarness H, PodRecord Pod, ContainerRecord Running, LoadedProfile V1) RunningOnWeb(string? defaultProfile = null)
    {
        var h = new LifecycleHarness(defaultProfile: defaultProfile);
        h.WriteProfile("web", ReferenceProfile);
        var pod = WebPod("p1");
        var running = h.CreateAndStart(pod, Container("c1", "p1", "running"));
        var v1 = h.Profiles.Get("web");
        h.Engine.ClearCalls();
        return (h, pod, running, v1);
    }

    [Fact]
    public void AnEditRebindsRunningContainersAndLaterStartsUseIt()
    {
        var (h, pod, running, v1) = RunningOnWeb();
        using var _ = h;
        h.Create(pod, Container("c-created", "p1", "created"));

        var v2 = h.AwaitReload("web", () => h.WriteProfile("web", EditedProfile));

        Assert.Equal(2, v2.Version);
        Assert.NotEqual(v1.Compiled.Hash, v2.Compiled.Hash);
        // The running container is rebound in place; the created one has no cgroup yet and only remembers the new version.
        Assert.Equal([new EngineCall("rebind", running.CgroupId, v2.Compiled.Hash, EnforcementMode.Enforce)], h.Engine.Calls);
        Assert.Equal(2, h.Controller.PolicyOf("c1")!.Profile!.Version);
        Assert.Equal(2, h.Controller.PolicyOf("c-created")!.Profile!.Version);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.Changed && n.Container == "running");

        var created = h.Start(pod, Container("c-created", "p1", "created"));
        Assert.Equal(v2.Compiled.Hash, h.Engine.BindingOf(created.CgroupId)!.ProfileHash);
    }

    [Fact]
    public void ABrokenEditKeepsTheLastGoodVersion()
    {
        var (h, pod, running, v1) = RunningOnWeb();
        using var _ = h;

        var problem = h.AwaitRejection("web", () => h.WriteProfile("web", """{"defaultAction": "SCMP_ACT_SOMETIMES"}"""));

        Assert.Contains("profile \"web\"", problem);
        Assert.Empty(h.Engine.Calls);
        Assert.Equal(v1.Compiled.Hash, h.Engine.BindingOf(running.CgroupId)!.ProfileHash);
        Assert.Same(v1, h.Profiles.Get("web"));
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c1")!.State);

        var later = h.CreateAndStart(pod, Container("c2", "p1", "later"));
        Assert.Equal(v1.Compiled.Hash, h.Engine.BindingOf(later.CgroupId)!.ProfileHash);
    }

    [Fact]
    public void AnEditTheEngineRefusesIsReportedNotThrown()
    {
        var (h, _, _, _) = RunningOnWeb();
        using var __ = h;
        h.Engine.ThrowAtBind = new ArgumentException("syscall rmdir has 600 rules, the BPF evaluator takes at most 512", "profile");

        // The store's Changed event reaches this harness after the controller: had the controller thrown, it never would.
        h.AwaitReload("web", () => h.WriteProfile("web", EditedProfile));

        var policy = h.AssertRefused("c1", "profile \"web\" cannot be enforced: ");
        Assert.EndsWith("syscall rmdir has 600 rules, the BPF evaluator takes at most 512", policy.Reason);
    }

    [Fact]
    public void ARemovedProfileFileKeepsTheLastVersionInForce()
    {
        var (h, _, running, v1) = RunningOnWeb(defaultProfile: "runtime/default");
        using var __ = h;

        var problem = h.AwaitRejection("web", () => h.RemoveProfile("web"));

        Assert.Contains("cannot be read", problem);
        Assert.Empty(h.Engine.Calls);
        Assert.Equal(v1.Compiled.Hash, h.Engine.BindingOf(running.CgroupId)!.ProfileHash);
        Assert.Equal("web", h.Controller.PolicyOf("c1")!.ProfileReference);
    }

    private static ConfigMapProfileSource ConfigMapKey(string name, string json) => new(name, "kube-system", "profiles", "cm-uid", $"{name}.json", json);

    /// <summary>A harness whose removed ConfigMap profiles fall back, as KubernetesPolicyEvents wires it (onProfileRemoved: fallback).</summary>
    private static LifecycleHarness WithConfigMapProfile(string? defaultProfile)
    {
        var h = new LifecycleHarness(defaultProfile: defaultProfile);
        h.Profiles.ConfigMapProfileRemoved += (reference, why) => h.Controller.FallBackFrom(reference, why);
        h.Profiles.ReplaceConfigMapProfiles("kube-system", [ConfigMapKey("shared", ReferenceProfile)]);
        return h;
    }

    [Fact]
    public void ARemovedConfigMapProfileFallsBackToTheDefault()
    {
        using var h = WithConfigMapProfile(defaultProfile: "runtime/default");
        var running = h.CreateAndStart(WebPod("p1", "configmap/shared"), Container("c1", "p1"));
        Assert.Equal(h.Profiles.Get("configmap/shared").Compiled.Hash, h.Engine.BindingOf(running.CgroupId)!.ProfileHash);

        h.Profiles.ReplaceConfigMapProfiles("kube-system", []);

        var fallback = h.Profiles.Get("runtime/default").Compiled.Hash;
        Assert.Equal(new EngineCall("rebind", running.CgroupId, fallback, EnforcementMode.Enforce), h.Engine.Calls[^1]);
        Assert.Equal(fallback, h.Engine.BindingOf(running.CgroupId)!.ProfileHash);
        var policy = h.Controller.PolicyOf("c1")!;
        Assert.Equal("runtime/default", policy.ProfileReference);
        Assert.Equal(PolicyState.Enforced, policy.State);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.FellBack && n.Message.Contains("falls back to the default profile runtime/default", StringComparison.Ordinal));
    }

    [Fact]
    public void ARemovedConfigMapProfileWithoutADefaultLeavesTheContainerUnmanaged()
    {
        using var h = WithConfigMapProfile(defaultProfile: null);
        var running = h.CreateAndStart(WebPod("p1", "configmap/shared"), Container("c1", "p1"));

        h.Profiles.ReplaceConfigMapProfiles("kube-system", []);

        Assert.Equal(new EngineCall("unbind", running.CgroupId), h.Engine.Calls[^1]);
        Assert.Empty(h.Engine.Bindings);
        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c1")!.State);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.FellBack && n.Message.Contains("no longer managed", StringComparison.Ordinal));
    }
}
