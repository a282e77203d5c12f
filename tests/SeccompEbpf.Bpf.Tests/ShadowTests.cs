using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>Shadow profiles (bpf/lib/shadow.h): a second profile evaluated on real processes' syscalls, never applied.</summary>
public sealed class ShadowTests : IDisposable
{
    private const int KilledBySigkill = 128 + 9;
    private readonly EngineScope _scope = new("shadow");

    public void Dispose() => _scope.Dispose();

    // KILL is what this host can enforce (no BPF LSM: ERRNO cannot be); getppid, prctl and write to fd 2 (an argument rule)
    private static CompiledProfile Strict(string label) => Make(label, CompiledAction.Allow,
        Only(Getppid, Kill), Only(Prctl, Kill),
        new CompiledSyscall(Write, [new CompiledRule([new ArgCheck(0, CompareOp.Equal, 2)], Kill)], CompiledAction.Allow));

    private static List<SyscallEvent> Of(IEnumerable<SyscallEvent> events, SyscallDriver driver) => events.Where(e => e.Pid == driver.Pid).ToList();

    [Fact]
    public async Task ShadowReportsExactlyWhatItWouldStopAndEnforcesNothing()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("exact");
        // in force: prctl logged, everything else allowed
        engine.Bind(cgroup.Id, Make("shadow-in-force", CompiledAction.Allow, Only(Prctl, Log())), EnforcementMode.Enforce);
        using var driver = SyscallDriver.Start(cgroup, "getppid:3", "prctl", "write:2:1", "write:1:1");
        engine.SetShadow(cgroup.Id, Strict("shadow-strict"));
        Assert.Equal(HashOf("shadow-strict"), Assert.Single(engine.Bindings, b => b.CgroupId == cgroup.Id).ShadowHash);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit()); // the shadow's KILLs were not applied

        var counts = engine.ReadShadow(cgroup.Id);
        Assert.NotNull(counts);
        Assert.Equal((5UL, 5UL), (counts.Differences, counts.Denials));

        // a sentinel after the driver: every event of the driver has been read once the sentinel's arrives
        using var sentinel = SyscallDriver.Start(cgroup, "prctl");
        sentinel.Go();
        Assert.Equal(0, sentinel.WaitForExit());
        var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == sentinel.Pid && x.Flags.HasFlag(SyscallEventFlags.Shadow)), "the sentinel's shadow event");
        var mine = Of(events, driver);
        var shadow = mine.Where(e => e.Flags.HasFlag(SyscallEventFlags.Shadow)).ToList();
        Assert.Equal([Getppid, Getppid, Getppid, Prctl, Write], shadow.Select(e => e.Nr));
        Assert.All(shadow, e => Assert.Equal(SeccompAction.KillProcess, e.Action));
        Assert.All(shadow, e => Assert.False(e.Flags.HasFlag(SyscallEventFlags.Enforced)));
        Assert.Equal(2UL, shadow.Single(e => e.Nr == Write).Args[0]);
        // the profile in force reported its own verdict as before, unmarked
        var inForce = Assert.Single(mine, e => !e.Flags.HasFlag(SyscallEventFlags.Shadow));
        Assert.Equal((Prctl, SeccompAction.Log), (inForce.Nr, inForce.Action));
    }

    [Fact]
    public async Task TheSameVerdictIsNoDifferenceButAuditModeAppliesNothing()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("audit");
        var killGetppid = Make("shadow-kill-getppid", CompiledAction.Allow, Only(Getppid, Kill));
        engine.Bind(cgroup.Id, Make("shadow-log-getppid", CompiledAction.Allow, Only(Getppid, Log())), EnforcementMode.Audit);
        engine.SetShadow(cgroup.Id, killGetppid);

        // enforced: the same KILL in force and in the shadow is no difference
        engine.Rebind(cgroup.Id, killGetppid, EnforcementMode.Enforce);
        using (var killed = SyscallDriver.Start(cgroup, "getppid:1"))
        {
            killed.Go();
            Assert.Equal(KilledBySigkill, killed.WaitForExit());
        }
        Assert.Equal(0UL, engine.ReadShadow(cgroup.Id)!.Differences);

        // audited: the KILL in force is only logged, the shadow would kill
        engine.Rebind(cgroup.Id, killGetppid, EnforcementMode.Audit);
        using var audited = SyscallDriver.Start(cgroup, "getppid:2");
        audited.Go();
        Assert.Equal(0, audited.WaitForExit());
        Assert.Equal((2UL, 2UL), (engine.ReadShadow(cgroup.Id)!.Differences, engine.ReadShadow(cgroup.Id)!.Denials));
        // per syscall the shadow's event comes first, then the audit event of the profile in force
        var events = await engine.Events.ReadUntilAsync(e => Of(e, audited).Count(x => x.Flags.HasFlag(SyscallEventFlags.AuditOnly)) >= 2, "2 audit events");
        Assert.Equal(2, Of(events, audited).Count(x => x.Flags.HasFlag(SyscallEventFlags.Shadow)));
        Assert.Equal(2, Of(events, audited).Count(x => x.Flags.HasFlag(SyscallEventFlags.AuditOnly)));
    }

    [Fact]
    public void PromotingTheShadowEnforcesTheNextViolatingCall()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("promote");
        var strict = Strict("shadow-promote");
        engine.Bind(cgroup.Id, Make("shadow-allow", CompiledAction.Allow), EnforcementMode.Audit);
        engine.SetShadow(cgroup.Id, strict);
        using (var before = SyscallDriver.Start(cgroup, "getppid:1"))
        {
            before.Go();
            Assert.Equal(0, before.WaitForExit());
        }
        Assert.Equal(1UL, engine.ReadShadow(cgroup.Id)!.Denials);

        // promotion: the shadow becomes the profile in force (one binding write), then the shadow goes
        engine.Rebind(cgroup.Id, strict, EnforcementMode.Enforce);
        engine.ClearShadow(cgroup.Id);
        Assert.Null(engine.ReadShadow(cgroup.Id));
        Assert.Null(Assert.Single(engine.Bindings, b => b.CgroupId == cgroup.Id).ShadowHash);
        using var after = SyscallDriver.Start(cgroup, "getppid:1");
        after.Go();
        Assert.Equal(KilledBySigkill, after.WaitForExit());
    }

    [Fact]
    public void ARebindKeepsTheShadowARestartAdoptsItAndUnbindFreesIt()
    {
        using var cgroup = TestCgroup.Create("keep");
        using (var engine = _scope.Open())
        {
            engine.Bind(cgroup.Id, Make("shadow-keep-1", CompiledAction.Allow), EnforcementMode.Enforce);
            engine.SetShadow(cgroup.Id, Strict("shadow-keep"));
            engine.Rebind(cgroup.Id, Make("shadow-keep-2", CompiledAction.Allow, Only(Getpid, Log())), EnforcementMode.Enforce);
            using var driver = SyscallDriver.Start(cgroup, "getppid:2");
            driver.Go();
            Assert.Equal(0, driver.WaitForExit());
            Assert.Equal(2UL, engine.ReadShadow(cgroup.Id)!.Denials);
            // the same shadow again keeps its counts; another one starts from zero
            engine.SetShadow(cgroup.Id, Strict("shadow-keep"));
            Assert.Equal(2UL, engine.ReadShadow(cgroup.Id)!.Denials);
        }

        using (var restarted = _scope.Open())
        {
            Assert.Equal(HashOf("shadow-keep"), Assert.Single(restarted.Bindings, b => b.CgroupId == cgroup.Id).ShadowHash);
            Assert.Equal(2UL, restarted.ReadShadow(cgroup.Id)!.Denials);
            Assert.True(restarted.SysEnterAttached);
            restarted.SetShadow(cgroup.Id, Make("shadow-keep-other", CompiledAction.Allow, Only(Getpid, Kill)));
            Assert.Equal(0UL, restarted.ReadShadow(cgroup.Id)!.Denials);
            // the replaced shadow's slot is freed: two slots are in use (the profile in force and the shadow)
            Assert.Equal(2, restarted.MapEntryCounts()["slots"]);

            restarted.Unbind(cgroup.Id);
            var counts = restarted.MapEntryCounts();
            Assert.Equal((0, 0, 0), (counts["shadows"], counts["slots"], counts["bindings"]));
            Assert.False(restarted.SysEnterAttached);
            Assert.Throws<InvalidOperationException>(() => restarted.SetShadow(cgroup.Id, Strict("shadow-keep")));
        }
    }
}
