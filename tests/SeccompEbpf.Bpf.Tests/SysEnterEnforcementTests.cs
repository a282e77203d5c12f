using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>KILL and LOG decided at sys_enter for real processes in real cgroups.</summary>
public sealed class SysEnterEnforcementTests : IDisposable
{
    private const int KilledBySigkill = 128 + 9;
    private readonly EngineScope _scope = new("sysenter");

    public void Dispose() => _scope.Dispose();

    [Fact]
    public void KillOnGetppidKillsTheProcessWithSigkill()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("kill");
        using var driver = SyscallDriver.Start(cgroup, "getppid:1");
        var report = engine.Bind(cgroup.Id, Make("kill-getppid", CompiledAction.Allow, Only(Getppid, Kill)), EnforcementMode.Enforce);
        driver.Go();

        Assert.Equal(KilledBySigkill, driver.WaitForExit());
        var kill = Assert.Single(report.Actions, a => a.Requested.Kind == SeccompAction.KillProcess && a.Scope.StartsWith("getppid", StringComparison.Ordinal));
        // getppid passes no LSM hook on any kernel: the kill can only follow the call, and the report says so
        Assert.Equal(EnforcementMechanism.SignalAfterEntry, kill.Mechanism);
        Assert.Contains("signal after entry: the syscall may complete before the process dies", kill.Explanation);
    }

    [Fact]
    public async Task LogOnGetppidReportsCgroupPidTidCommArchNrAndArgs()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("log");
        using var driver = SyscallDriver.Start(cgroup, "getppid:3", "thread-getppid");
        engine.Bind(cgroup.Id, Make("log-getppid", CompiledAction.Allow, Only(Getppid, Log())), EnforcementMode.Enforce);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());

        var events = await engine.Events.ReadUntilAsync(e => e.Count(x => x.Pid == driver.Pid) >= 4, "4 getppid events");
        var mine = events.Where(e => e.Pid == driver.Pid).ToList();
        Assert.Equal(4, mine.Count);
        foreach (var e in mine)
        {
            Assert.Equal(cgroup.Id, e.CgroupId);
            Assert.Equal(cgroup.Id, e.BoundCgroupId);
            Assert.Equal("syscall-driver", e.Comm);
            Assert.Equal(X86_64, e.AuditArch);
            Assert.Equal(Getppid, e.Nr);
            Assert.Equal("getppid", e.SyscallName);
            Assert.Equal([0x1111UL, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666], e.Args);
            Assert.Equal(SeccompAction.Log, e.Action);
            Assert.Equal(DecisionSource.Fallback, e.Source);
            Assert.Equal(EnforcementMode.Enforce, e.Mode);
        }
        Assert.Equal(3, mine.Count(e => e.Tid == driver.Pid));
        Assert.Single(mine, e => e.Tid != driver.Pid); // the second thread
        var counters = engine.ReadCounters();
        Assert.True(counters.Decisions[SeccompAction.Log] >= 4, $"LOG decisions counted: {counters.Decisions[SeccompAction.Log]}");
    }

    [Fact]
    public async Task ProcessInAnotherCgroupIsUntouched()
    {
        using var engine = _scope.Open();
        using var bound = TestCgroup.Create("bound");
        using var other = TestCgroup.Create("other");
        engine.Bind(bound.Id, Make("kill-getppid-log-getpid", CompiledAction.Allow, Only(Getppid, Kill), Only(Getpid, Log())), EnforcementMode.Enforce);

        using (var outsider = SyscallDriver.Start(other, "getppid:5"))
        {
            outsider.Go();
            Assert.Equal(0, outsider.WaitForExit());
        }
        // a sentinel from the bound cgroup: everything reserved in the ring buffer before it has been read when it arrives
        using var sentinel = SyscallDriver.Start(bound, "getppid:1");
        sentinel.Go();
        Assert.Equal(KilledBySigkill, sentinel.WaitForExit());
        var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == sentinel.Pid && x.Action == SeccompAction.KillProcess), "KILL event of the sentinel");
        Assert.DoesNotContain(events, e => e.CgroupId == other.Id);
        Assert.Contains(events, e => e.Pid == sentinel.Pid && e.Action == SeccompAction.KillProcess && e.Flags.HasFlag(SyscallEventFlags.Enforced));
    }

    [Fact]
    public async Task ProcessInAChildCgroupOfTheBoundOneIsCovered()
    {
        using var engine = _scope.Open();
        using var bound = TestCgroup.Create("parent");
        var child = bound.Child("child");
        var grandchild = child.Child("grandchild");
        engine.Bind(bound.Id, Make("log-getppid-child", CompiledAction.Allow, Only(Getppid, Log(7))), EnforcementMode.Enforce);

        using var driver = SyscallDriver.Start(grandchild, "getppid:1");
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());
        var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == driver.Pid), "event from the grandchild cgroup");
        var e = events.Single(x => x.Pid == driver.Pid);
        Assert.Equal(grandchild.Id, e.CgroupId);
        Assert.Equal(bound.Id, e.BoundCgroupId);

        // and KILL reaches it too
        engine.Rebind(bound.Id, Make("kill-getppid-child", CompiledAction.Allow, Only(Getppid, Kill)), EnforcementMode.Enforce);
        using var victim = SyscallDriver.Start(child, "getppid:1");
        victim.Go();
        Assert.Equal(KilledBySigkill, victim.WaitForExit());
    }

    [Fact]
    public async Task AuditModeLogsAKillInsteadOfApplyingIt()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("audit");
        using var driver = SyscallDriver.Start(cgroup, "getppid:1");
        engine.Bind(cgroup.Id, Make("kill-getppid-audit", CompiledAction.Allow, Only(Getppid, Kill)), EnforcementMode.Audit);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());
        var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == driver.Pid), "audit event");
        var e = events.Single(x => x.Pid == driver.Pid);
        Assert.Equal(SeccompAction.KillProcess, e.Action);
        Assert.Equal(EnforcementMode.Audit, e.Mode);
        Assert.True(e.Flags.HasFlag(SyscallEventFlags.AuditOnly));
        Assert.False(e.Flags.HasFlag(SyscallEventFlags.Enforced));
    }

    [Fact]
    public void SysEnterIsAttachedOnlyWhileABindingExists()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("attach");
        Assert.False(engine.SysEnterAttached);
        engine.Bind(cgroup.Id, Make("attach", CompiledAction.Allow, Only(Getppid, Log())), EnforcementMode.Enforce);
        Assert.True(engine.SysEnterAttached);
        engine.Unbind(cgroup.Id);
        Assert.False(engine.SysEnterAttached);
    }
}
