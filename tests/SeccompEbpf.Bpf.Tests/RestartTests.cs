using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>Enforcement outlives the engine; the next engine adopts the pinned bindings.</summary>
public sealed class RestartTests : IDisposable
{
    private const ulong LoopTag = 0x7E57;
    private readonly EngineScope _scope = new("restart");

    public void Dispose() => _scope.Dispose();

    [Fact]
    public async Task BoundProcessStaysEnforcedWithNoGapAndTheNewEngineAdoptsTheBinding()
    {
        using var cgroup = TestCgroup.Create("restart");
        using var killed = TestCgroup.Create("restart-kill");
        var logProfile = Make("restart-log", CompiledAction.Allow, new CompiledSyscall(Getppid, [new CompiledRule([new ArgCheck(1, CompareOp.Equal, LoopTag)], Log(0x77))], CompiledAction.Allow));
        var killProfile = Make("restart-kill", CompiledAction.Allow, Only(Getppid, Kill));
        using var driver = SyscallDriver.Start(cgroup, $"loop:0x{LoopTag:x}:1");

        var seen = new HashSet<ulong>();
        var first = _scope.Open();
        first.Bind(cgroup.Id, logProfile, EnforcementMode.Enforce);
        first.Bind(killed.Id, killProfile, EnforcementMode.Enforce);
        driver.Go();
        foreach (var e in await first.Events.ReadUntilAsync(e => e.Count(x => x.Pid == driver.Pid) >= 50, "50 decisions before the restart"))
            if (e.Pid == driver.Pid)
                seen.Add(e.Args[0]);
        first.Dispose(); // default: enforcement stays
        // what the first engine had already taken from the ring buffer is still readable from its completed channel
        await foreach (var e in first.Events.ReadAllAsync())
            if (e.Pid == driver.Pid)
                seen.Add(e.Args[0]);

        // no engine running: the programs still decide
        using (var orphanVictim = SyscallDriver.Start(killed, "getppid:1"))
        {
            orphanVictim.Go();
            Assert.Equal(128 + 9, orphanVictim.WaitForExit());
        }

        using var second = _scope.Open();
        var adopted = second.Bindings;
        Assert.Contains(adopted, b => b.CgroupId == cgroup.Id && b.ProfileHash == logProfile.Hash && b.Mode == EnforcementMode.Enforce && b.Adopted);
        Assert.Contains(adopted, b => b.CgroupId == killed.Id && b.ProfileHash == killProfile.Hash && b.Adopted);
        Assert.True(second.SysEnterAttached);

        foreach (var e in await second.Events.ReadUntilAsync(e => e.Count(x => x.Pid == driver.Pid) >= 50, "50 decisions after the restart"))
            if (e.Pid == driver.Pid)
                seen.Add(e.Args[0]);
        driver.Signal(10);
        ulong count = ulong.Parse(driver.ReadLine()!.Split(' ')[1]);
        Assert.Equal(0, driver.WaitForExit());
        // the decisions made while no engine ran were kept in the pinned ring buffer
        using (var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            try
            {
                while (seen.Count < (int)count)
                {
                    var e = await second.Events.ReadAsync(guard.Token);
                    if (e.Pid == driver.Pid)
                        seen.Add(e.Args[0]);
                }
            }
            catch (OperationCanceledException)
            {
                // reported below with the missing numbers
            }
        }
        var missing = Enumerable.Range(0, (int)count).Select(i => (ulong)i).Where(i => !seen.Contains(i)).Take(10).ToList();
        Assert.True(missing.Count == 0, $"decisions missing around the restart: {string.Join(", ", missing)} of {count}");

        // the adopted bookkeeping works: rebinding and unbinding free the adopted slots
        second.Unbind(cgroup.Id);
        second.Unbind(killed.Id);
        Assert.All(second.MapEntryCounts(), kv => Assert.True(kv.Value == 0, $"{kv.Key} still has {kv.Value} entries"));
        Assert.False(second.SysEnterAttached);
    }

    [Fact]
    public void DetachOnExitRemovesProgramsMapsAndPins()
    {
        using var cgroup = TestCgroup.Create("uninstall");
        using (var engine = EnforcementEngine.Open(_scope.Options() with { DetachOnExit = true }, _scope.Loggers))
            engine.Bind(cgroup.Id, Make("uninstall", CompiledAction.Allow, Only(Getppid, Kill)), EnforcementMode.Enforce);
        Assert.False(Directory.Exists(_scope.PinRoot), $"{_scope.PinRoot} survived DetachOnExit");
        using var driver = SyscallDriver.Start(cgroup, "getppid:1");
        driver.Go();
        Assert.Equal(0, driver.WaitForExit()); // no longer enforced
    }
}
