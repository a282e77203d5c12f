using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Nri;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>
/// Every way a container's policy cannot be honoured ends as a veto (or, configured so, an unmanaged or refused
/// container), never as an exception that reaches containerd as "Unknown".
/// </summary>
public sealed class VetoTests
{
    private static Dictionary<string, string> ProfileAnnotation(string reference) => new() { [PolicyAnnotations.Profile] = reference };

    [Fact]
    public void AnUnknownProfileVetoesAtCreateContainer()
    {
        using var h = new LifecycleHarness();

        var veto = Assert.Throws<NriVetoException>(() => h.Create(Pod("p1", ProfileAnnotation("missing")), Container("c1", "p1")));

        Assert.Contains("pod default/web container app", veto.Message);
        Assert.Contains("profile \"missing\"", veto.Message);
        Assert.Empty(h.Engine.Calls);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.Vetoed && n.Container == "app");
    }

    [Fact]
    public void AnInvalidModeAnnotationVetoesAtCreateContainer()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default");
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Mode] = "sometimes" });

        var veto = Assert.Throws<NriVetoException>(() => h.Create(pod, Container("c1", "p1")));

        Assert.Contains("mode must be enforce, audit or off", veto.Message);
        Assert.Empty(h.Engine.Calls);
    }

    [Fact]
    public void AnInvalidSelectionStartsUnmanagedWhenConfiguredSo()
    {
        using var h = new LifecycleHarness(onInvalidPolicy: InvalidPolicyAction.StartUnmanaged);

        h.CreateAndStart(Pod("p1", ProfileAnnotation("missing")), Container("c1", "p1"));

        var policy = h.Controller.PolicyOf("c1")!;
        Assert.Equal(PolicyState.Unmanaged, policy.State);
        Assert.Contains("profile \"missing\"", policy.Reason);
        Assert.Empty(h.Engine.Calls);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.NotEnforced);
    }

    [Fact]
    public void AnEngineRefusalVetoesAtStartContainer()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", ProfileAnnotation("web"));
        h.Create(pod, Container("c1", "p1"));
        h.Engine.ThrowAtBind = new EnforcementRefusedException("KILL_THREAD for ptrace cannot be enforced on this kernel", ["no BPF LSM"]);

        var veto = Assert.Throws<NriVetoException>(() => h.Start(pod, Container("c1", "p1")));

        Assert.Contains("profile \"web\" cannot be enforced: KILL_THREAD for ptrace cannot be enforced on this kernel", veto.Message);
        Assert.Empty(h.Engine.Bindings);
        Assert.Contains(h.Notices, n => n.Kind == PolicyNoticeKind.Vetoed);
    }

    public static TheoryData<string> OtherEngineFailures => ["argument", "invalid-operation", "io", "unauthorized"];

    private static Exception Failure(string kind) => kind switch
    {
        // The rule-table limit: ArgumentException's " (Parameter 'profile')" must not reach the veto.
        "argument" => new ArgumentException("syscall openat has 600 rules, the BPF evaluator takes at most 512", "profile"),
        "invalid-operation" => new InvalidOperationException("bpf_map_update_elem(rules): Argument list too long"),
        "io" => new IOException("cgroup nesting deeper than the engine supports"),
        _ => new UnauthorizedAccessException("operation not permitted"),
    };

    [Theory]
    [MemberData(nameof(OtherEngineFailures))]
    public void AnyOtherEngineExceptionVetoesCleanly(string kind)
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", ProfileAnnotation("web"));
        h.Create(pod, Container("c1", "p1"));
        var failure = Failure(kind);
        h.Engine.ThrowAtBind = failure;

        var veto = Assert.Throws<NriVetoException>(() => h.Start(pod, Container("c1", "p1")));

        Assert.Contains("profile \"web\" cannot be enforced: ", veto.Message);
        Assert.DoesNotContain("(Parameter", veto.Message);
        Assert.Contains(failure is ArgumentException a ? a.Message.Replace(" (Parameter 'profile')", "", StringComparison.Ordinal) : failure.Message, veto.Message);
    }

    [Theory]
    [MemberData(nameof(OtherEngineFailures))]
    public void AnEngineExceptionIsARefusalWhenVetoesAreOff(string kind)
    {
        using var h = new LifecycleHarness(onInvalidPolicy: InvalidPolicyAction.StartUnmanaged);
        h.WriteProfile("web", ReferenceProfile);
        h.Engine.ThrowAtBind = Failure(kind);

        h.CreateAndStart(Pod("p1", ProfileAnnotation("web")), Container("c1", "p1")); // no exception

        h.AssertRefused("c1", "profile \"web\" cannot be enforced: ");
    }

    [Fact]
    public void AnUnavailableEngineVetoesManagedContainersAndNamesWhy()
    {
        using var h = new LifecycleHarness(defaultProfile: "runtime/default", engineUnavailable: true);
        var pod = Pod("p1");
        h.Create(pod, Container("c1", "p1"));

        var veto = Assert.Throws<NriVetoException>(() => h.Start(pod, Container("c1", "p1")));

        Assert.Contains("the enforcement engine is unavailable: BPF is not available (test)", veto.Message);
        Assert.Empty(h.Engine.Calls);
    }

    [Fact]
    public void AnUnmanagedContainerStartsWithoutAnEngine()
    {
        using var h = new LifecycleHarness(engineUnavailable: true);

        h.CreateAndStart(Pod("p1"), Container("c1", "p1"));

        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c1")!.State);
    }
}
