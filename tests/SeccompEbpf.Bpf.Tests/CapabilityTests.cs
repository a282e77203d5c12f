using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// The probe decides what is claimed: ERRNO is enforced through BPF LSM where the kernel accepts it (or through fmod_ret
/// on the hooks' security_* functions where bpf is not an active LSM), and refused or degraded (with the reason) where
/// neither works. SECCOMP_EBPF_EXPECT_LSM=1|0 and SECCOMP_EBPF_EXPECT_FMOD_RET_SECURITY=1|0 pin the expectation (the VM
/// harness sets them), so a probe that silently flips fails the run.
/// </summary>
public sealed class CapabilityTests : IDisposable
{
    private const ushort Exdev = 18;
    private readonly EngineScope _scope = new("caps");

    public void Dispose() => _scope.Dispose();


    [Fact]
    public void ProbeReportsEachMechanismWithTheKernelsReason()
    {
        using var engine = _scope.Open();
        var caps = engine.Capabilities;
        Assert.Equal(Enum.GetValues<KernelMechanism>().Length, caps.Probes.Count);
        Assert.True(caps.Has(KernelMechanism.RawTracepoint), caps[KernelMechanism.RawTracepoint].Detail);
        Assert.True(caps.Has(KernelMechanism.SendSignal), caps[KernelMechanism.SendSignal].Detail);
        Assert.True(caps.Has(KernelMechanism.RingBuffer), caps[KernelMechanism.RingBuffer].Detail);
        Assert.True(caps.Has(KernelMechanism.AncestorCgroupId), caps[KernelMechanism.AncestorCgroupId].Detail);
        foreach (var probe in caps.Probes.Where(p => !p.Available))
        {
            Assert.NotEqual(0, probe.Errno);
            Assert.False(string.IsNullOrWhiteSpace(probe.Detail), $"{probe.Mechanism} is unavailable without a reason");
        }
        AssertProbeMatchesExpectation(engine);
    }

    private static void AssertProbeMatchesExpectation(EnforcementEngine engine)
    {
        var caps = engine.Capabilities;
        LsmExpectation.AssertProbeAgrees(caps);
    }

    [Fact]
    public void ErrnoOnASyscallNoHookReachesIsRefusedWithTheReason()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("refuse");
        var profile = Make("errno-getppid", CompiledAction.Allow, Only(Getppid, CompiledAction.Errno(1)));
        var refused = Assert.Throws<EnforcementRefusedException>(() => engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce));
        Assert.Contains("Errno(1) for getppid (x86_64)", refused.Message);
        Assert.Contains(engine.Capabilities.CanPreventSyscalls ? "no LSM hook reached" : "BPF LSM unavailable", refused.Message);
        Assert.Contains("no error injection on this kernel", refused.Message);
        Assert.Empty(engine.Bindings);
        Assert.All(engine.MapEntryCounts(), kv => Assert.Equal(0, kv.Value));

        // audit mode needs no prevention: the same profile binds and only logs
        var report = engine.Bind(cgroup.Id, profile, EnforcementMode.Audit);
        Assert.Contains(report.Actions, a => a.Mechanism == EnforcementMechanism.AuditLog);
    }

    [Fact]
    public async Task ErrnoOnPrctlIsEnforcedThroughLsmOrRefusedOrDegradedAsTheProbeSays()
    {
        var profile = Make("errno-prctl", CompiledAction.Allow, Only(Prctl, CompiledAction.Errno(Exdev)));
        using var cgroup = TestCgroup.Create("prctl");
        using (var engine = _scope.Open())
        {
            AssertProbeMatchesExpectation(engine);
            if (engine.Capabilities.CanPreventSyscalls)
            {
                var report = engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
                bool fmodRet = engine.Capabilities.PreventsThroughFmodRet;
                Assert.Contains(report.Actions, a => a.Mechanism == EnforcementMechanism.LsmHook
                    && a.Explanation.Contains(fmodRet ? "stopped at fmod_ret on security_task_prctl" : "stopped at the BPF LSM hook task_prctl"));
                // exactly one family is attached: the BPF LSM programs, or their fmod_ret twins where BPF LSM does not run
                var links = Directory.GetFiles(Path.Combine(_scope.PinRoot, "links")).Select(Path.GetFileName).ToList();
                Assert.Contains(fmodRet ? "fmodret_task_prctl" : "lsm_task_prctl", links);
                Assert.DoesNotContain(links, l => l!.StartsWith(fmodRet ? "lsm_" : "fmodret_", StringComparison.Ordinal));
                using var driver = SyscallDriver.Start(cgroup, "prctl");
                driver.Go();
                Assert.Equal(100 + Exdev, driver.WaitForExit());
                return;
            }

            var refused = Assert.Throws<EnforcementRefusedException>(() => engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce));
            Assert.Contains("Errno(18) for prctl (x86_64)", refused.Message);
            Assert.Contains($"BPF LSM unavailable ({engine.Capabilities[KernelMechanism.BpfLsm].ErrnoName})", refused.Message);
        }

        using (var engine = EnforcementEngine.Open(_scope.Options(UnenforceablePolicy.DegradeToKill), _scope.Loggers))
        {
            var report = engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
            var degraded = Assert.Single(report.Actions, a => a.Mechanism == EnforcementMechanism.Degraded);
            Assert.Contains("degraded to KILL after the call", degraded.Explanation);
            Assert.Equal(SeccompAction.KillProcess, degraded.Applied.Kind);
            Assert.True(report.IsDegraded);
            using var driver = SyscallDriver.Start(cgroup, "prctl");
            driver.Go();
            Assert.Equal(128 + 9, driver.WaitForExit());
            engine.Unbind(cgroup.Id);
        }

        using (var engine = EnforcementEngine.Open(_scope.Options(UnenforceablePolicy.DegradeToLog), _scope.Loggers))
        {
            var report = engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
            var degraded = Assert.Single(report.Actions, a => a.Mechanism == EnforcementMechanism.Degraded);
            Assert.Contains("degraded to LOG", degraded.Explanation);
            using var driver = SyscallDriver.Start(cgroup, "prctl");
            driver.Go();
            Assert.Equal(0, driver.WaitForExit());
            var events = await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == driver.Pid && x.Nr == Prctl), "the degraded prctl's event");
            var e = events.Single(x => x.Pid == driver.Pid && x.Nr == Prctl);
            Assert.Equal(SeccompAction.Log, e.Action);
            Assert.True(e.Flags.HasFlag(SyscallEventFlags.Degraded));
            engine.Unbind(cgroup.Id);
        }
    }

    [Fact]
    public void KillOnUnlinkatPreventsTheSideEffectWhereLsmWorks()
    {
        using var engine = _scope.Open();
        AssertProbeMatchesExpectation(engine);
        using var cgroup = TestCgroup.Create("unlink");
        string victim = Path.Combine(Path.GetTempPath(), $"seccomp-ebpf-unlink-{Guid.NewGuid():N}");
        File.WriteAllText(victim, "keep me");
        try
        {
            var report = engine.Bind(cgroup.Id, Make("kill-unlinkat", CompiledAction.Allow, Only(Unlinkat, Kill)), EnforcementMode.Enforce);
            var kill = Assert.Single(report.Actions, a => a.Scope.StartsWith("unlinkat", StringComparison.Ordinal));
            using var driver = SyscallDriver.Start(cgroup, $"unlink:{victim}");
            driver.Go();
            Assert.Equal(128 + 9, driver.WaitForExit());
            if (engine.Capabilities.CanPreventSyscalls)
            {
                Assert.Equal(EnforcementMechanism.LsmHook, kill.Mechanism);
                Assert.True(File.Exists(victim), "KILL with LSM prevention let unlinkat take effect");
            }
            else
            {
                // without prevention the report says the syscall may complete, and here it does
                Assert.Equal(EnforcementMechanism.SignalAfterEntry, kill.Mechanism);
                Assert.Contains("the syscall may complete before the process dies", kill.Explanation);
            }
        }
        finally
        {
            File.Delete(victim);
        }
    }
}
