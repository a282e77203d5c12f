using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

public sealed class RateLimitTests : IDisposable
{
    private const int PerSecond = 10;
    private readonly EngineScope _scope = new("rate");

    public void Dispose() => _scope.Dispose();

    [Fact]
    public async Task LogEventsAreRateLimitedPerContainerAndDropsAreCounted()
    {
        using var engine = _scope.Open(eventsPerSecond: PerSecond);
        using var noisy = TestCgroup.Create("noisy");
        using var quiet = TestCgroup.Create("quiet");
        var profile = Make("rate", CompiledAction.Allow, Only(Getppid, Log()));
        engine.Bind(noisy.Id, profile, EnforcementMode.Enforce);
        engine.Bind(quiet.Id, profile, EnforcementMode.Enforce);

        using (var driver = SyscallDriver.Start(noisy, "getppid:1000"))
        {
            driver.Go();
            Assert.Equal(0, driver.WaitForExit());
        }
        // the other container has its own budget: its event arrives, after everything the noisy one got through
        using var sentinel = SyscallDriver.Start(quiet, "getppid:1");
        sentinel.Go();
        Assert.Equal(0, sentinel.WaitForExit());
        var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == sentinel.Pid && x.Nr == Getppid), "the quiet container's event");

        int noisyEvents = events.Count(e => e.BoundCgroupId == noisy.Id && e.Nr == Getppid);
        // 1000 calls may straddle one window boundary: at most two windows' worth get through
        Assert.InRange(noisyEvents, 1, 2 * PerSecond);
        var counters = engine.ReadCounters();
        Assert.True(counters.RateLimitDrops >= (ulong)(1000 - 2 * PerSecond), $"rate-limit drops counted: {counters.RateLimitDrops}");
    }
}
