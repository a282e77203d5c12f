using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>The binder turns every engine result, exceptions included, into a value; it never throws and holds no state.</summary>
public sealed class PolicyBinderTests
{
    private static ContainerRecord Running(ulong cgroupId) =>
        Container("c1", "p1") with { Phase = ContainerPhase.Started, Pid = 4242, CgroupId = cgroupId };

    private static ContainerPolicy Wanting(LifecycleHarness h, string reference = "runtime/default") =>
        new("c1", new PolicySelection(reference, "test", PolicyMode.Enforce, null), Profile: h.Profiles.Get(reference), State: PolicyState.Pending);

    [Fact]
    public void ABindIsBoundAndARebindOfTheSameCgroupUsesRebind()
    {
        using var h = new LifecycleHarness();
        var binder = new PolicyBinder(h.Engine, null, InvalidPolicyAction.Veto);

        var bound = Assert.IsType<BindOutcome.Bound>(binder.Bind(Running(10), Wanting(h), mayVeto: true));
        Assert.Equal(EnforcementMode.Enforce, bound.Mode);
        Assert.IsType<BindOutcome.Bound>(binder.Bind(Running(10), Wanting(h) with { BoundCgroupId = 10 }, mayVeto: false));

        Assert.Equal(["bind", "rebind"], h.Engine.Calls.Select(c => c.Operation));
    }

    [Theory]
    [InlineData(true, true, "Vetoed")]
    [InlineData(false, true, "Refused")]
    [InlineData(true, false, "Refused")]
    public void AnEngineExceptionIsAValue(bool mayVeto, bool vetoConfigured, string expected)
    {
        var onInvalid = vetoConfigured ? InvalidPolicyAction.Veto : InvalidPolicyAction.StartUnmanaged;
        using var h = new LifecycleHarness();
        h.Engine.ThrowAtBind = new ArgumentException("syscall openat has 600 rules, the BPF evaluator takes at most 512", "profile");
        var binder = new PolicyBinder(h.Engine, null, onInvalid);

        var outcome = binder.Bind(Running(10), Wanting(h), mayVeto);

        Assert.Equal(expected, outcome.GetType().Name);
        var problem = outcome switch { BindOutcome.Vetoed v => v.Problem, BindOutcome.Refused r => r.Problem, _ => "" };
        Assert.Equal("profile \"runtime/default\" cannot be enforced: syscall openat has 600 rules, the BPF evaluator takes at most 512", problem);
    }

    [Fact]
    public void NoEngineOrNoCgroupIsUnprotectedWhereItCannotVeto()
    {
        using var h = new LifecycleHarness();

        var noEngine = new PolicyBinder(null, "BPF is not available (test)", InvalidPolicyAction.Veto).Bind(Running(10), Wanting(h), mayVeto: false);
        var noCgroup = new PolicyBinder(h.Engine, null, InvalidPolicyAction.Veto).Bind(Running(0), Wanting(h), mayVeto: false);

        Assert.EndsWith("the enforcement engine is unavailable: BPF is not available (test)", Assert.IsType<BindOutcome.Unprotected>(noEngine).Problem);
        Assert.EndsWith("the cgroup of pid 4242 could not be resolved", Assert.IsType<BindOutcome.Unprotected>(noCgroup).Problem);
        Assert.Empty(h.Engine.Calls);
    }

    [Fact]
    public void APolicyThatWantsNoBindingUnbindsAndReportsAFailedUnbind()
    {
        using var h = new LifecycleHarness();
        var binder = new PolicyBinder(new FailingUnbind(h.Engine), null, InvalidPolicyAction.Veto);
        var off = Wanting(h) with { ModeOverride = PolicyMode.Off, BoundCgroupId = 10 };

        var outcome = Assert.IsType<BindOutcome.Unbound>(binder.Bind(Running(10), off, mayVeto: true));

        Assert.Equal("bpf_map_delete_elem(bindings): No such device", outcome.UnbindProblem);
    }

    private sealed class FailingUnbind(IEnforcement inner) : IEnforcement
    {
        public IReadOnlyList<BindingInfo> Bindings => inner.Bindings;
        public BindingReport Bind(ulong cgroupId, Profiles.Compiled.CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor) => inner.Bind(cgroupId, profile, mode, floor);
        public BindingReport Rebind(ulong cgroupId, Profiles.Compiled.CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor) => inner.Rebind(cgroupId, profile, mode, floor);
        public void Unbind(ulong cgroupId) => throw new InvalidOperationException("bpf_map_delete_elem(bindings): No such device");
        public void StartRecording(ulong cgroupId) => inner.StartRecording(cgroupId);
        public void RecordArguments(ulong cgroupId, IReadOnlyList<ArgumentToRecord> arguments) => inner.RecordArguments(cgroupId, arguments);
        public void StopRecording(ulong cgroupId) => inner.StopRecording(cgroupId);
        public SyscallRecording? ReadRecording(ulong cgroupId) => inner.ReadRecording(cgroupId);
        public BindingReport SetShadow(ulong cgroupId, Profiles.Compiled.CompiledProfile profile) => inner.SetShadow(cgroupId, profile);
        public void ClearShadow(ulong cgroupId) => inner.ClearShadow(cgroupId);
        public ShadowCounts? ReadShadow(ulong cgroupId) => inner.ReadShadow(cgroupId);
    }
}
