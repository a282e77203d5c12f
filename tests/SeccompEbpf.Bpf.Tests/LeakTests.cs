using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

public sealed class LeakTests : IDisposable
{
    private readonly EngineScope _scope = new("leak");

    public void Dispose() => _scope.Dispose();

    [Fact]
    public void TenThousandBindUnbindCyclesLeaveNoMapEntries()
    {
        using var engine = _scope.Open();
        using var first = TestCgroup.Create("leak-a");
        using var second = TestCgroup.Create("leak-b");
        using var anchor = TestCgroup.Create("leak-anchor");
        // a binding held throughout keeps the programs attached: the loop measures map bookkeeping,
        // not 20,000 attach/detach cycles (slow with LSM trampolines, and covered elsewhere)
        engine.Bind(anchor.Id, Make("leak-anchor", CompiledAction.Allow, Only(Getpid, Log())), EnforcementMode.Enforce);
        var shared = WriteRule(Kill, Log(), "leak-shared");
        var profiles = Enumerable.Range(0, 4).Select(i => Make($"leak-{i}", CompiledAction.Allow,
            new CompiledSyscall(Getppid, [new CompiledRule([new ArgCheck(0, CompareOp.Equal, (ulong)i)], Log())], CompiledAction.Allow),
            Only(Getpid, Log()))).ToArray();

        for (int i = 0; i < 10_000; i++)
        {
            // both cgroups share one slot half of the time; the other half each has its own
            engine.Bind(first.Id, shared, EnforcementMode.Enforce);
            engine.Bind(second.Id, i % 2 == 0 ? shared : profiles[i % 4], i % 3 == 0 ? EnforcementMode.Audit : EnforcementMode.Enforce);
            if (i % 7 == 0)
                engine.Rebind(second.Id, profiles[(i + 1) % 4], EnforcementMode.Enforce);
            engine.Unbind(first.Id);
            engine.Unbind(second.Id);
        }

        Assert.Equal([anchor.Id], engine.Bindings.Select(b => b.CgroupId));
        engine.Unbind(anchor.Id);
        Assert.Empty(engine.Bindings);
        Assert.False(engine.SysEnterAttached);
        var counts = engine.MapEntryCounts();
        Assert.All(counts, kv => Assert.True(kv.Value == 0, $"map {kv.Key} kept {kv.Value} entries"));
    }
}
