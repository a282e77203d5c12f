using SeccompEbpf.Bpf.Enforcement;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>The seccomp-ebpf.io/record annotation and the record verbs, against the fake engine.</summary>
public class RecordingTests
{
    private static Dictionary<string, string> Annotations(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public void TheAnnotationRecordsFromStartContainerUnderTheContainersProfile()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/record", "true")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));

        // bound, then recording, both inside StartContainer (before the entrypoint runs)
        Assert.Equal(["bind", "record"], h.Engine.Calls.Select(c => c.Operation));
        var policy = h.Controller.PolicyOf("c-app-0001")!;
        Assert.Equal(PolicyState.Enforced, policy.State);
        Assert.True(policy.Recording);
        Assert.NotNull(policy.RecordingSince);
        Assert.True(h.Engine.BindingOf(app.CgroupId)!.Recording);

        // record then finds it running: it is not restarted (which would lose what was recorded since the start)
        h.Engine.ClearCalls();
        Assert.Equal([("c-app-0001", true)], h.Controller.StartRecording("default/web", null));
        Assert.Empty(h.Engine.Calls);
        var read = Assert.Single(h.Controller.ReadRecordings(null, "c-app-0001"));
        Assert.Equal("web", read.Profile);
        Assert.Equal([0u, 1, 231], read.Syscalls.Syscalls[SeccompEbpf.Profiles.Syscalls.SyscallArch.X86_64]);
    }

    [Fact]
    public void AContainerWithoutAProfileIsBoundToTheAllowAllRecordingBinding()
    {
        using var h = new LifecycleHarness();
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/record.app", "true")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));
        var other = h.CreateAndStart(pod, Container("c-other-0001", "p1", name: "other"));

        var unconfined = h.Profiles.Get("unconfined").Compiled.Hash;
        Assert.Equal([new EngineCall("bind", app.CgroupId, unconfined, EnforcementMode.Enforce), new EngineCall("record", app.CgroupId)], h.Engine.Calls);
        Assert.Equal(PolicyState.Recording, h.Controller.PolicyOf("c-app-0001")!.State);
        // the annotation names the container: its sibling stays unmanaged
        Assert.Null(h.Engine.BindingOf(other.CgroupId));
        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c-other-0001")!.State);

        // stopping the recording leaves the container as its annotations would without it: unmanaged
        Assert.Equal(["c-app-0001"], h.Controller.StopRecording(null, "c-app-0001"));
        Assert.Null(h.Engine.BindingOf(app.CgroupId));
        Assert.Equal(PolicyState.Unmanaged, h.Controller.PolicyOf("c-app-0001")!.State);
        Assert.Empty(h.Controller.ReadRecordings(null, "c-app-0001"));
    }

    [Fact]
    public void RecordStartsOnAnUnmanagedRunningContainerAndStopUnbindsIt()
    {
        using var h = new LifecycleHarness();
        var pod = Pod("p1");
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));
        Assert.Empty(h.Engine.Calls);

        Assert.Equal([("c-app-0001", false)], h.Controller.StartRecording("default/web", null));
        Assert.Equal(["bind", "record"], h.Engine.Calls.Select(c => c.Operation));
        Assert.Equal(PolicyState.Recording, h.Controller.PolicyOf("c-app-0001")!.State);
        Assert.Single(h.Controller.ReadRecordings("default/web", null));

        // a profile applied meanwhile replaces the recording binding; the recording goes on
        h.WriteProfile("web", ReferenceProfile);
        h.Controller.Apply(null, "c-app-0001", "web", null);
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c-app-0001")!.State);
        Assert.True(h.Engine.BindingOf(app.CgroupId)!.Recording);

        h.Controller.StopRecording("default/web", null);
        Assert.False(h.Engine.BindingOf(app.CgroupId)!.Recording);
        Assert.Equal(PolicyState.Enforced, h.Controller.PolicyOf("c-app-0001")!.State);
    }

    [Fact]
    public void AnAnnotationEditThatDropsTheProfileKeepsTheRecordingOnTheRecordingBinding()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/profile", "web"), ("seccomp-ebpf.io/record", "true")));
        var app = h.CreateAndStart(pod, Container("c-app-0001", "p1"));

        h.Controller.Reselect("default", "web", pod.Uid, Annotations(("seccomp-ebpf.io/record", "true")));

        Assert.Equal(h.Profiles.Get("unconfined").Compiled.Hash, h.Engine.BindingOf(app.CgroupId)!.ProfileHash);
        Assert.True(h.Engine.BindingOf(app.CgroupId)!.Recording);
        Assert.Equal(PolicyState.Recording, h.Controller.PolicyOf("c-app-0001")!.State);
    }

    [Fact]
    public void ABadRecordAnnotationIsRefusedNamingIt()
    {
        using var h = new LifecycleHarness();
        var pod = Pod("p1", Annotations(("seccomp-ebpf.io/record", "yes")));
        var e = Assert.Throws<SeccompEbpf.Nri.NriVetoException>(() => h.Create(pod, Container("c-app-0001", "p1")));
        Assert.Contains("seccomp-ebpf.io/record (pod)=\"yes\": record must be true or false", e.Message);
    }
}
