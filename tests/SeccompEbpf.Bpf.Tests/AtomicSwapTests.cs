using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>Rebind under load: every decision comes entirely from one version, and none is missing.</summary>
public sealed class AtomicSwapTests : IDisposable
{
    private const int Flips = 3000;
    private const ulong LoopTag = 0x5EED;
    private readonly EngineScope _scope = new("swap");

    public void Dispose() => _scope.Dispose();

    // Version A logs odd sequence numbers by rule 0 (tag 0xA0), the rest by rule 1 (tag 0xA1);
    // version B logs even ones by rule 0 (tag 0xB0), the rest by rule 1 (tag 0xB1).
    private static CompiledProfile Version(char name, ulong oddOrEven) => Make($"swap-{name}", CompiledAction.Allow,
        new CompiledSyscall(Getppid,
        [
            new CompiledRule([new ArgCheck(0, CompareOp.MaskedEqual, 1, oddOrEven), new ArgCheck(1, CompareOp.Equal, LoopTag)], Log(name == 'A' ? (ushort)0xA0 : (ushort)0xB0)),
            new CompiledRule([new ArgCheck(1, CompareOp.Equal, LoopTag)], Log(name == 'A' ? (ushort)0xA1 : (ushort)0xB1)),
        ], CompiledAction.Allow));

    [Fact]
    public async Task EveryDecisionMatchesOneVersionAndNoneIsMissing()
    {
        using var engine = _scope.Open();
        var a = Version('A', 1);
        var b = Version('B', 0);
        using var cgroup = TestCgroup.Create("swap");
        using var driver = SyscallDriver.Start(cgroup, $"loop:0x{LoopTag:x}:8");
        engine.Bind(cgroup.Id, a, EnforcementMode.Enforce);

        var seen = new System.Collections.Concurrent.ConcurrentDictionary<ulong, SyscallEvent>();
        var duplicates = new System.Collections.Concurrent.ConcurrentBag<ulong>();
        var collector = Task.Run(async () =>
        {
            await foreach (var e in engine.Events.ReadAllAsync())
                if (e.Pid == driver.Pid && e.Nr == Getppid && e.Args[1] == LoopTag && !seen.TryAdd(e.Args[0], e))
                    duplicates.Add(e.Args[0]);
        });

        driver.Go();
        using (var guard = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            for (int i = 0; i < Flips; i++)
            {
                // every 50th flip frees the retired version, so the next flip builds it in fresh slots again
                if (i % 50 == 49)
                    engine.ReclaimRetired();
                engine.Rebind(cgroup.Id, i % 2 == 0 ? b : a, EnforcementMode.Enforce);
                // let the load run under each version: a few decisions per flip
                int before = seen.Count;
                while (seen.Count < before + 3)
                {
                    Assert.False(guard.IsCancellationRequested, $"decisions stopped arriving after flip {i} (deadlock guard)");
                    Thread.SpinWait(100);
                }
            }
        }
        driver.Signal(10 /* SIGUSR1 */);
        string? countLine = driver.ReadLine();
        Assert.Equal(0, driver.WaitForExit());
        ulong count = ulong.Parse(countLine!.Split(' ')[1]);
        Assert.True(count > Flips, $"the loop made only {count} calls during {Flips} flips");

        using (var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            while (seen.Count < (int)count && !guard.IsCancellationRequested)
                await Task.Delay(50);
        Assert.Empty(duplicates);
        var counters = engine.ReadCounters();
        Assert.True(seen.Count == (int)count,
            $"{count - (ulong)seen.Count} of {count} decisions missing (ring-buffer drops {counters.RingBufferDrops}, rate drops {counters.RateLimitDrops}, channel drops {counters.ChannelDrops})");

        int fromA = 0, fromB = 0;
        foreach (var (seq, e) in seen.OrderBy(kv => kv.Key))
        {
            bool odd = seq % 2 == 1;
            bool matchesA = (e.RuleIndex, e.Data) == (odd ? (0, 0xA0) : (1, 0xA1));
            bool matchesB = (e.RuleIndex, e.Data) == (odd ? (1, 0xB1) : (0, 0xB0));
            Assert.True(matchesA || matchesB, $"sequence {seq}: rule {e.RuleIndex} tag 0x{e.Data:X} matches neither version");
            if (matchesA) fromA++; else fromB++;
        }
        Assert.True(fromA > 0 && fromB > 0, $"decisions from A: {fromA}, from B: {fromB}: the flips did not overlap the load");
        Assert.Equal(2, engine.MapEntryCounts()["rules"]); // only the live version's slot remains
    }
}
