using System.Diagnostics;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Syscalls;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// The container's own kernel seccomp filter (the floor) in the planner (pure) and in the engine (real kernel): what it
/// stops before entry is exact with no BPF work, and a binding the floor leaves nothing to do attaches no sys_enter.
/// </summary>
public sealed class SeccompFloorTests : IDisposable
{
    private readonly EngineScope _scope = new("floor");

    public void Dispose() => _scope.Dispose();

    private const uint Mkdir = 83, Unshare = 272, Unknown = 999;

    private static SeccompFloor Floor(string label, CompiledAction defaultAction, params CompiledSyscall[] syscalls)
        => new(Make("floor-" + label, defaultAction, syscalls), "test floor " + label);

    private static EnforcementPlanner.Plan Plan(CompiledProfile profile, SeccompFloor? floor, bool lsm = false, UnenforceablePolicy policy = UnenforceablePolicy.Refuse)
        => new EnforcementPlanner(PlannerTests.Kernel(lsm), policy).Build(profile, EnforcementMode.Enforce, floor);

    private static SyscallExactness X86(EnforcementPlanner.Plan plan, string name)
        => plan.Exactness.Arches.Single(a => a.Arch == "x86_64").Syscalls.Single(s => s.Name == name);

    [Fact]
    public void AnAllowlistWhoseDenialsTheFloorStopsIsExactAndNeedsNoSysEnter()
    {
        var profile = Make("allowlist", CompiledAction.Errno(1), Only(Getppid, CompiledAction.Allow), Only(Write, CompiledAction.Allow));
        var without = Plan(profile, floor: null);
        Assert.NotEmpty(without.Refusals); // no LSM, no error injection: the ERRNO default cannot be prevented by BPF
        Assert.True(without.NeedsSysEnter);

        var plan = Plan(profile, Floor("same", CompiledAction.Errno(1), Only(Getppid, CompiledAction.Allow), Only(Write, CompiledAction.Allow)));
        Assert.Empty(plan.Refusals);
        Assert.False(plan.NeedsSysEnter);
        Assert.False(plan.Exactness.Summary.NeedsSysEnter);
        Assert.Equal(0, plan.Exactness.Summary.NotPrevented);
        Assert.Equal(SyscallTables.Entries(SyscallArch.X86_64).Count - 2, plan.Exactness.Summary.KernelSeccomp);
        Assert.Empty(plan.Exactness.Summary.FloorDiffersSyscalls);
        Assert.EndsWith("· no sys_enter", plan.Exactness.Summary.ToString());
        var unshare = X86(plan, "unshare");
        Assert.Equal(Exactness.ExactBeforeEntry, unshare.Class);
        Assert.True(unshare.ByKernelSeccomp);
        Assert.False(X86(plan, "getppid").ByKernelSeccomp);
        var defaultAction = Assert.Single(plan.Report, a => a.Scope == "default action (x86_64)");
        Assert.Equal(EnforcementMechanism.KernelSeccomp, defaultAction.Mechanism);
        Assert.Contains("container's own kernel seccomp filter (test floor same)", defaultAction.Explanation);
        Assert.Equal(ProfileImage.FloorBit, plan.Image.Variant & ProfileImage.FloorBit);
        Assert.NotEqual(without.Image.SlotKey, plan.Image.SlotKey);
    }

    [Fact]
    public void AFloorErrnoOtherThanTheProfilesIsExactButSaidToDiffer()
    {
        var profile = Make("errno38", CompiledAction.Allow, Only(Mkdir, CompiledAction.Errno(38)));
        var plan = Plan(profile, Floor("errno1", CompiledAction.Allow, Only(Mkdir, CompiledAction.Errno(1))));
        Assert.Empty(plan.Refusals);
        Assert.False(plan.NeedsSysEnter);
        var mkdir = X86(plan, "mkdir");
        Assert.Equal(Exactness.ExactBeforeEntry, mkdir.Class);
        var action = Assert.Single(mkdir.Actions);
        Assert.Equal("Errno(1)", action.KernelSeccomp);
        Assert.True(action.FloorDiffers);
        Assert.Equal(["mkdir"], plan.Exactness.Summary.FloorDiffersSyscalls);
        var report = Assert.Single(plan.Report, a => a.Scope == "mkdir (x86_64)");
        Assert.Equal(CompiledAction.Errno(1), report.Applied);
        Assert.EndsWith("the container observes the floor's Errno(1) instead of Errno(38)", report.Explanation);
    }

    [Fact]
    public void AFloorThatAllowsLogsTracesOrNotifiesChangesNothing()
    {
        var profile = Make("deny-mkdir", CompiledAction.Allow, Only(Mkdir, CompiledAction.Errno(1)));
        var baseline = Plan(profile, floor: null, policy: UnenforceablePolicy.DegradeToLog);
        foreach (var floorAction in new[] { CompiledAction.Allow, Log(), new CompiledAction(SeccompAction.Trace, 1), new CompiledAction(SeccompAction.Notify) })
        {
            // TRACE and USER_NOTIF: a tracer or listener may let the syscall run, so they do not stop it
            var plan = Plan(profile, Floor($"lets-{floorAction}", CompiledAction.Allow, Only(Mkdir, floorAction)), policy: UnenforceablePolicy.DegradeToLog);
            Assert.True(plan.NeedsSysEnter, floorAction.ToString());
            Assert.Equal(baseline.Exactness.Summary.ToString(), plan.Exactness.Summary.ToString());
            Assert.False(X86(plan, "mkdir").ByKernelSeccomp);
            Assert.Equal(Exactness.NotPrevented, X86(plan, "mkdir").Class);
        }
    }

    [Fact]
    public void EveryStoppingFloorActionCountsAndTheFloorsActionIsWhatTheContainerSees()
    {
        var profile = Make("kill-unshare", CompiledAction.Allow, Only(Unshare, Kill));
        foreach (var floorAction in new[] { CompiledAction.Errno(1), CompiledAction.Errno(0), new CompiledAction(SeccompAction.Trap), new CompiledAction(SeccompAction.KillThread), Kill })
        {
            var plan = Plan(profile, Floor($"stops-{floorAction}", CompiledAction.Allow, Only(Unshare, floorAction)));
            Assert.False(plan.NeedsSysEnter, floorAction.ToString());
            var action = Assert.Single(X86(plan, "unshare").Actions);
            Assert.Equal(Exactness.ExactBeforeEntry, action.Class);
            Assert.Equal(floorAction.ToString(), action.KernelSeccomp);
            Assert.Equal(floorAction != Kill, action.FloorDiffers);
        }
    }

    [Fact]
    public void ArgumentRulesCountOnlyWhenTheFloorStopsEveryArgumentOrDecidesExactlyAsTheProfile()
    {
        var rule = new CompiledSyscall(Unshare, [new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0)], CompiledAction.Allow)], CompiledAction.Errno(1));
        var profile = Make("unshare-rule", CompiledAction.Allow, rule);

        var same = Plan(profile, Floor("same-rule", CompiledAction.Allow, rule));
        Assert.False(same.NeedsSysEnter);
        Assert.Contains(X86(same, "unshare").Actions, a => a.Action == CompiledAction.Errno(1) && a.KernelSeccomp == "Errno(1)");

        var looser = new CompiledSyscall(Unshare, [new CompiledRule([new ArgCheck(0, CompareOp.LessOrEqual, 1)], CompiledAction.Allow)], CompiledAction.Errno(1));
        var partly = Plan(profile, Floor("looser-rule", CompiledAction.Allow, looser), policy: UnenforceablePolicy.DegradeToLog);
        Assert.True(partly.NeedsSysEnter); // unshare(1): the floor allows it, the profile denies it
        Assert.False(X86(partly, "unshare").ByKernelSeccomp);

        var everyArgument = new CompiledSyscall(Unshare, [new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0)], CompiledAction.Errno(13))], CompiledAction.Errno(1));
        var stopped = Plan(profile, Floor("every-argument", CompiledAction.Allow, everyArgument));
        Assert.False(stopped.NeedsSysEnter);
        Assert.Contains("depends on the arguments", X86(stopped, "unshare").Actions.Single(a => a.Action == CompiledAction.Errno(1)).KernelSeccomp);
    }

    [Fact]
    public void NumbersOutsideTheTablesAndOtherArchitecturesAreCovered()
    {
        var profile = Make("deny-default", CompiledAction.Errno(1), Only(Getppid, CompiledAction.Allow));
        // the floor lets syscall 999 (in no table) run: the profile's default denies it, so sys_enter is still needed
        var unknownAllowed = Plan(profile, Floor("unknown-allowed", CompiledAction.Errno(1), Only(Getppid, CompiledAction.Allow), Only(Unknown, CompiledAction.Allow)),
            policy: UnenforceablePolicy.DegradeToLog);
        Assert.True(unknownAllowed.NeedsSysEnter);
        Assert.NotEqual(EnforcementMechanism.KernelSeccomp, Assert.Single(unknownAllowed.Report, a => a.Scope == "default action (x86_64)").Mechanism);

        // a floor listing only x86_64 stops i386 tasks with its bad-arch action (KILL_PROCESS), which is stricter than the profile's ERRNO
        var x86Only = new SeccompFloor(new CompiledProfile(HashOf("floor-x86-only"), Kill,
            [new CompiledArch(X86_64, CompiledAction.Errno(1), null, [Only(Getppid, CompiledAction.Allow)])]), "x86_64-only floor");
        var plan = Plan(profile, x86Only);
        Assert.False(plan.NeedsSysEnter);
        var i386 = plan.Exactness.Arches.Single(a => a.Arch == "i386");
        Assert.All(i386.Syscalls, s => Assert.Equal("KillProcess", Assert.Single(s.Actions).KernelSeccomp));

        // the same floor with an ALLOW bad-arch action stops nothing of i386
        var allowsOthers = new SeccompFloor(x86Only.Profile with { Hash = HashOf("floor-allows-others"), BadArchAction = CompiledAction.Allow }, "lax floor");
        var lax = Plan(profile, allowsOthers, policy: UnenforceablePolicy.DegradeToLog);
        Assert.True(lax.NeedsSysEnter);
        Assert.All(lax.Exactness.Arches.Single(a => a.Arch == "i386").Syscalls, s => Assert.False(s.ByKernelSeccomp));
    }

    [Fact]
    public void ALogTheFloorLetsRunNeedsSysEnterAndOneItStopsDoesNot()
    {
        var floor = Floor("deny-unshare", CompiledAction.Allow, Only(Unshare, CompiledAction.Errno(1)));
        Assert.True(Plan(Make("log-getppid", CompiledAction.Allow, Only(Getppid, Log())), floor).NeedsSysEnter);
        Assert.False(Plan(Make("log-unshare", CompiledAction.Allow, Only(Unshare, Log())), floor).NeedsSysEnter);
    }

    [Fact]
    public void RuntimeDefaultUnderItselfAndDockersDefaultUnderRuntimeDefaultNeedNoSysEnter()
    {
        var runtimeDefault = BuiltInProfiles.Compile("runtime/default", CompileContext.Default).Profile;
        var floor = new SeccompFloor(runtimeDefault, "RuntimeDefault");
        var plan = new EnforcementPlanner(PlannerTests.Kernel(lsm: false), UnenforceablePolicy.Refuse).Build(runtimeDefault, EnforcementMode.Enforce, floor);
        Assert.Empty(plan.Refusals);
        Assert.False(plan.NeedsSysEnter);
        Assert.All(plan.Exactness.Arches, a => Assert.Equal(a.Syscalls.Count, a.Summary.Exact));
        Assert.Empty(plan.Exactness.Summary.FloorDiffersSyscalls);
    }

    // The engine on the real kernel.

    [Fact]
    public void AFloorCoveredBindingAttachesNoSysEnterUntilABindingNeedingItAppears()
    {
        using var engine = _scope.Open();
        using var covered = TestCgroup.Create("floor-covered");
        using var other = TestCgroup.Create("floor-other");
        // the test process runs under no real seccomp filter: the profile denies only what the driver never calls
        var profile = Make("floor-deny-unshare", CompiledAction.Allow, Only(Unshare, CompiledAction.Errno(1)));
        var floor = Floor("engine", CompiledAction.Allow, Only(Unshare, CompiledAction.Errno(1)));

        var report = engine.Bind(covered.Id, profile, EnforcementMode.Enforce, floor);
        Assert.False(report.Exactness!.NeedsSysEnter);
        Assert.Contains(engine.Bindings, b => b.CgroupId == covered.Id);
        Assert.False(engine.SysEnterAttached);
        Assert.Equal(0UL, ManagedSyscallsOf(engine, covered));

        engine.Bind(other.Id, Make("floor-needs", CompiledAction.Allow, Only(Getppid, Log())), EnforcementMode.Enforce);
        Assert.True(engine.SysEnterAttached);
        AssertKernelLinkIsSysEnter(Path.Combine(_scope.PinRoot, "links", EnforcementEngine.SysEnterProgram));
        // the covered container's entry stayed: sys_enter decides it alike once attached for another binding
        Assert.True(ManagedSyscallsOf(engine, covered) >= 3);

        engine.Unbind(other.Id);
        Assert.False(engine.SysEnterAttached);
        Assert.False(File.Exists(Path.Combine(_scope.PinRoot, "links", EnforcementEngine.SysEnterProgram)));

        // without its floor the same profile needs sys_enter (a DegradeToKill engine: unshare's ERRNO(1) is killed after entry here)
        using var degrading = new EngineScope("floor-degrade");
        using var second = degrading.Open(UnenforceablePolicy.DegradeToKill);
        Assert.True(second.Bind(covered.Id, profile, EnforcementMode.Enforce).Exactness!.NeedsSysEnter);
        Assert.True(second.SysEnterAttached);
        second.Rebind(covered.Id, profile, EnforcementMode.Enforce, floor);
        Assert.False(second.SysEnterAttached);
        second.Unbind(covered.Id);
        engine.Unbind(covered.Id);
    }

    [Fact]
    public void RecordingAFloorCoveredBindingAttachesSysEnterUntilTheRecordingStops()
    {
        using var engine = _scope.Open();
        using var covered = TestCgroup.Create("floor-recorded");
        var profile = Make("floor-record-deny-unshare", CompiledAction.Allow, Only(Unshare, CompiledAction.Errno(1)));
        var floor = Floor("record", CompiledAction.Allow, Only(Unshare, CompiledAction.Errno(1)));

        engine.Bind(covered.Id, profile, EnforcementMode.Enforce, floor);
        Assert.False(engine.SysEnterAttached);

        // the recorder lives in sys_enter: a recording must see the syscalls even when nothing else needs the program
        engine.StartRecording(covered.Id);
        Assert.True(engine.SysEnterAttached);
        ManagedSyscallsOf(engine, covered);
        var recorded = engine.ReadRecording(covered.Id)!.Syscalls[SyscallArch.X86_64];
        Assert.Contains(Getppid, recorded);

        // a rebind (the same floor) keeps the recording and with it the program
        engine.Rebind(covered.Id, profile, EnforcementMode.Enforce, floor);
        Assert.True(engine.SysEnterAttached);

        engine.StopRecording(covered.Id);
        Assert.False(engine.SysEnterAttached);
        engine.Unbind(covered.Id);
    }

    /// <summary>How many syscalls the engine decided while a process in <paramref name="cgroup"/> made three getppid calls (and its exit).</summary>
    private static ulong ManagedSyscallsOf(EnforcementEngine engine, TestCgroup cgroup)
    {
        ulong before = engine.ReadCounters().ManagedSyscalls;
        using (var driver = SyscallDriver.Start(cgroup, "getppid:3"))
        {
            driver.Go();
            Assert.Equal(0, driver.WaitForExit());
        }
        return engine.ReadCounters().ManagedSyscalls - before;
    }

    private static void AssertKernelLinkIsSysEnter(string pinnedLink)
    {
        var info = new ProcessStartInfo("bpftool", ["-j", "link", "show", "pinned", pinnedLink]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        string json = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        // the kernel's view of the pinned link (bpftool's exit status is not reliable here: it reports 255 after printing it)
        using var link = System.Text.Json.JsonDocument.Parse(json.Length > 0 ? json : "{}");
        Assert.True(link.RootElement.TryGetProperty("tp_name", out var tp), $"bpftool link show pinned {pinnedLink}: {json} {process.StandardError.ReadToEnd()}");
        Assert.Equal("sys_enter", tp.GetString());
        Assert.Equal("raw_tracepoint", link.RootElement.GetProperty("type").GetString());
    }
}
