using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>i386 tasks are judged by the i386 table: number 64 is getppid there and semget on x86_64.</summary>
/// <remarks>
/// Category=compat32: these need a kernel that runs i386 binaries. ./test.sh runs them in the host's bpf tier when
/// tests/native/bin/ia32-probe runs here, and always in the qemu tier (Debian's kernels have IA32 emulation).
/// </remarks>
[Trait("Category", "compat32")]
public sealed class CompatArchTests : IDisposable
{
    private const uint Semget = 64; // x86_64 number that equals i386 getppid
    private readonly EngineScope _scope = new("compat");

    public void Dispose() => _scope.Dispose();

    [Fact]
    public async Task I386GetppidIsNeverConfusedWithX86_64Semget()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("compat");
        var profile = new CompiledProfile(HashOf("compat"), Kill,
        [
            new CompiledArch(X86_64, CompiledAction.Allow, null, [Only(Semget, Kill)]),
            new CompiledArch(I386, CompiledAction.Allow, null, [Only(Getppid32, Log(0x32))]),
        ]);
        using var driver = SyscallDriver.Start32(cgroup, "getppid:1");
        engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());
        var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == driver.Pid && x.Nr == Getppid32), "the i386 getppid event");
        var e = events.First(x => x.Pid == driver.Pid && x.Nr == Getppid32);
        Assert.Equal(I386, e.AuditArch);
        Assert.Equal("getppid", e.SyscallName);
        Assert.Equal((ushort)0x32, e.Data);
        Assert.Equal([0x1111UL, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666], e.Args);
    }

    [Fact]
    public void A32BitTaskUnderAProfileWithoutI386GetsTheBadArchAction()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("badarch");
        var profile = new CompiledProfile(HashOf("x86_64-only"), Kill, [new CompiledArch(X86_64, CompiledAction.Allow, null, [])]);
        using var driver = SyscallDriver.Start32(cgroup, "getppid:1");
        var report = engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
        Assert.Contains(report.Actions, a => a.Scope == "architectures the profile does not list" && a.Requested.Kind == SeccompAction.KillProcess);
        driver.Go();
        Assert.Equal(128 + 9, driver.WaitForExit());
    }
}
