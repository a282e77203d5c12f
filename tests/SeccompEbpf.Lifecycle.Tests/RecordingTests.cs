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

    [Fact]
    public void WithArgsRecordsTheArgumentsOfANewAndOfARunningRecordingAndBadArgumentsChangeNothing()
    {
        using var h = new LifecycleHarness();
        var annotated = h.CreateAndStart(Pod("p1", Annotations(("seccomp-ebpf.io/record", "true"))), Container("c-rec-0001", "p1"));
        var plain = h.CreateAndStart(Pod("p2"), Container("c-plain-0001", "p2"));
        h.Engine.ClearCalls();

        // invalid: refused before anything is bound or recorded
        var tooMany = new ArgumentToRecord[] { new("personality", 0), new("clone", 0), new("mount", 1), new("unshare", 0), new("setns", 1) };
        foreach (var (bad, message) in new (ArgumentToRecord[], string)[]
        {
            ([new("frobnicate", 0)], "unknown syscall \"frobnicate\""),
            ([new("clone", 6)], "argument index 6 of clone is outside 0..5"),
            ([new("clone", 0), new("clone", 1)], "clone is named twice"),
            (tooMany, "at most 4 syscalls"),
        })
            Assert.Contains(message, Assert.Throws<PolicySelectionException>(() => h.Controller.StartRecording(null, "c-plain-0001", bad)).Message);
        Assert.Empty(h.Engine.Calls);
        Assert.Null(h.Engine.BindingOf(plain.CgroupId));

        ArgumentToRecord[] args = [new("personality", 0), new("clone", 0)];
        Assert.Equal([("c-plain-0001", false)], h.Controller.StartRecording(null, "c-plain-0001", args));
        Assert.Equal(["bind", "record", "record-args"], h.Engine.Calls.Select(c => c.Operation));
        Assert.Equal(args, h.Engine.RecordedArguments[plain.CgroupId]);
        var read = Assert.Single(h.Controller.ReadRecordings(null, "c-plain-0001"));
        Assert.Equal(["personality", "clone"], read.Syscalls.Arguments!.Select(a => a.Syscall));

        // a container recording since its start keeps its set and gains the arguments; stopping them keeps the recording
        h.Engine.ClearCalls();
        Assert.Equal([("c-rec-0001", true)], h.Controller.StartRecording(null, "c-rec-0001", [new("personality", 0)]));
        Assert.Equal(["record-args"], h.Engine.Calls.Select(c => c.Operation));
        Assert.Equal(["c-rec-0001"], h.Controller.StopRecordingArguments(null, "c-rec-0001"));
        Assert.False(h.Engine.RecordedArguments.ContainsKey(annotated.CgroupId));
        Assert.True(h.Engine.BindingOf(annotated.CgroupId)!.Recording);

        h.Controller.StopRecording(null, "c-plain-0001");
        Assert.False(h.Engine.RecordedArguments.ContainsKey(plain.CgroupId));
    }

    [Theory]
    [InlineData("frobnicate:0", "unknown syscall \"frobnicate\"")]
    [InlineData("personality:6", "argument index 6 of personality is outside 0..5")]
    [InlineData("personality", "\"personality\" is not NAME:INDEX")]
    [InlineData("personality:-1", "\"personality:-1\" is not NAME:INDEX")]
    [InlineData("personality:0,personality:1", "personality is named twice")]
    [InlineData("personality:0,clone:0,mount:0,unshare:0,setns:0", "at most 4 syscalls")]
    public async Task TheCliRefusesBadWithArgsNamingTheProblem(string withArgs, string problem)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        // the socket does not exist: a request would fail with 1, so 2 says the arguments were refused first
        int code = await SeccompEbpf.Cli.RecordCommand.RunAsync(["--container", "c1", "--with-args", withArgs, "--socket", "/nonexistent/control.sock"], stdout, stderr);
        Assert.Equal(2, code);
        Assert.Contains($"seccomp-ebpf record: --with-args: {problem}", stderr.ToString());
    }

    [Fact]
    public void TheCliParsesListsAndRepeatsAndABareWithArgsMeansPersonalityAndCloneFlags()
    {
        var into = new List<ArgumentToRecord>();
        Assert.Null(SeccompEbpf.Cli.RecordCommand.ParseArguments("personality:0, clone:0", into));
        Assert.Null(SeccompEbpf.Cli.RecordCommand.ParseArguments("mount:3", into));
        Assert.Equal([new("personality", 0), new("clone", 0), new("mount", 3)], into);
        Assert.Null(ArgumentToRecord.Problem(into));
        // clone's flags are its first argument on x86_64 (and i386): clone(flags, stack, parent_tid, child_tid, tls)
        Assert.Equal([new ArgumentToRecord("personality", 0), new("clone", 0)], SeccompEbpf.Cli.RecordCommand.DefaultArguments);
    }
}
