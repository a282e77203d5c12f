using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>The per-action, per-syscall decisions of the planner for kernels with and without BPF LSM (no kernel needed).</summary>
public sealed class PlannerTests
{
    /// <summary>A recorded kernel: every mechanism but error injection, with or without BPF LSM (without: no trampolines, so no fmod_ret fallback either; also used by TaskCacheTests).</summary>
    internal static KernelCapabilities Kernel(bool lsm) => new("test", "bpf", Enum.GetValues<KernelMechanism>()
        .Select(m => m switch
        {
            KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup or KernelMechanism.FmodRetSecurity when !lsm => new MechanismProbe(m, false, 1, "refused"),
            KernelMechanism.FmodRet or KernelMechanism.KprobeOverride => new MechanismProbe(m, false, 22, "refused"),
            _ => new MechanismProbe(m, true, 0, "ok"),
        }).ToList());

    [Fact]
    public void ErrnoOnAnLsmCoveredSyscallIsPreventedAtItsHook()
    {
        var plan = new EnforcementPlanner(Kernel(lsm: true), UnenforceablePolicy.Refuse)
            .Build(Make("p1", CompiledAction.Allow, Only(Prctl, CompiledAction.Errno(1)), Only(257 /* openat */, CompiledAction.Errno(13))), EnforcementMode.Enforce);
        Assert.Empty(plan.Refusals);
        var prctl = Assert.Single(plan.Report, a => a.Scope == "prctl (x86_64)");
        Assert.Equal(EnforcementMechanism.LsmHook, prctl.Mechanism);
        Assert.Contains("task_prctl", prctl.Explanation);
        Assert.Contains("except O_PATH opens", Assert.Single(plan.Report, a => a.Scope == "openat (x86_64)").Explanation);
        var entry = plan.Image.Syscalls.Single(s => s.Nr == Prctl && s.AuditArch == X86_64);
        Assert.Equal(ScAction.Prevent, entry.Value.Fallback.Flags);
    }

    [Fact]
    public void WhereBpfLsmDoesNotRunTheFmodRetFallbackPreventsAtTheSameHooksAndIsNamed()
    {
        // bpf left out of the active LSMs: lsm/ programs attach and never run, fmod_ret on security_* does run
        var fallback = new KernelCapabilities("test", "landlock,lockdown,yama,apparmor", Enum.GetValues<KernelMechanism>()
            .Select(m => m switch
            {
                KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup => new MechanismProbe(m, false, 95, "attached, never ran"),
                KernelMechanism.FmodRet or KernelMechanism.KprobeOverride => new MechanismProbe(m, false, 22, "refused"),
                _ => new MechanismProbe(m, true, 0, "ok"),
            }).ToList());
        Assert.True(fallback.CanPreventSyscalls);
        var plan = new EnforcementPlanner(fallback, UnenforceablePolicy.Refuse)
            .Build(Make("p1", CompiledAction.Allow, Only(Prctl, CompiledAction.Errno(1))), EnforcementMode.Enforce);
        Assert.Empty(plan.Refusals);
        var prctl = Assert.Single(plan.Report, a => a.Scope == "prctl (x86_64)");
        Assert.Equal(EnforcementMechanism.LsmHook, prctl.Mechanism);
        Assert.Equal("Errno(1) for prctl (x86_64): stopped at fmod_ret on security_task_prctl (BPF LSM does not run here), which returns -1", prctl.Explanation);
        Assert.Equal(ScAction.Prevent, plan.Image.Syscalls.Single(s => s.Nr == Prctl && s.AuditArch == X86_64).Value.Fallback.Flags);
        // -ENOSYS still cannot be handed to task_prctl: the fallback returns it from the same function
        var enosys = new EnforcementPlanner(fallback, UnenforceablePolicy.Refuse)
            .Build(Make("p1b", CompiledAction.Allow, Only(Prctl, CompiledAction.Errno(38))), EnforcementMode.Enforce);
        Assert.Contains(enosys.Refusals, r => r.Contains("task_prctl hook cannot return ENOSYS", StringComparison.Ordinal));
        // and the engine's hook check looks for the security_* functions, here all missing but one
        var missing = new KernelCapabilities("test", "x", fallback.Probes, LsmHookTable.Hooks.Where(h => h != "task_prctl").ToHashSet());
        Assert.Equal(["fmodret_task_prctl"], LsmHookTable.ProgramsFor(missing.MissingLsmHooks, missing.PreventsThroughFmodRet));
    }

    [Fact]
    public void ErrnoWithoutAHookIsRefusedOrDegradedAsConfigured()
    {
        var profile = Make("p2", CompiledAction.Allow, Only(Getpid, CompiledAction.Errno(1)));
        var refuse = new EnforcementPlanner(Kernel(lsm: true), UnenforceablePolicy.Refuse).Build(profile, EnforcementMode.Enforce);
        Assert.Equal("Errno(1) for getpid (x86_64): no LSM hook reached and no error injection on this kernel (fmod_ret: EINVAL, kprobe override: EINVAL): refused", Assert.Single(refuse.Refusals));

        var kill = new EnforcementPlanner(Kernel(lsm: false), UnenforceablePolicy.DegradeToKill).Build(profile, EnforcementMode.Enforce);
        Assert.Empty(kill.Refusals);
        var degraded = Assert.Single(kill.Report, a => a.Mechanism == EnforcementMechanism.Degraded);
        Assert.EndsWith("degraded to KILL after the call (SIGKILL at entry; the syscall may complete)", degraded.Explanation);
        Assert.Equal(1u, kill.Image.Variant);
        var log = new EnforcementPlanner(Kernel(lsm: false), UnenforceablePolicy.DegradeToLog).Build(profile, EnforcementMode.Enforce);
        Assert.Equal((byte)SeccompAction.Log, log.Image.Syscalls.Single(s => s.Nr == Getpid).Value.Fallback.Kind);
        Assert.Equal(2u, log.Image.Variant);
    }

    [Fact]
    public void DefaultErrnoIsMaterializedForLsmCoveredSyscallsAndRefusedForTheRest()
    {
        var profile = Make("p3", CompiledAction.Errno(1), Only(Getppid, CompiledAction.Allow));
        var plan = new EnforcementPlanner(Kernel(lsm: true), UnenforceablePolicy.DegradeToLog).Build(profile, EnforcementMode.Enforce);
        // unnamed syscalls an LSM hook covers get their own preventing entry
        var openat = plan.Image.Syscalls.Single(s => s.AuditArch == X86_64 && s.Nr == 257);
        Assert.Equal((byte)SeccompAction.Errno, openat.Value.Fallback.Kind);
        Assert.Equal(ScAction.Prevent, openat.Value.Fallback.Flags);
        Assert.Contains(plan.Image.Syscalls, s => s.AuditArch == I386 && s.Nr == 5 /* i386 open */);
        // the rest of the default is degraded, and the report says both halves
        var arch = plan.Image.Arches.Single(a => a.AuditArch == X86_64).Value;
        Assert.Equal((byte)SeccompAction.Log, arch.DefaultAction.Kind);
        var line = Assert.Single(plan.Report, a => a.Scope == "default action (x86_64)");
        Assert.Contains("syscalls of the LSM hook table are stopped at their hook; for the others", line.Explanation);
    }

    [Fact]
    public void KillWithoutPreventionIsSignalAfterEntryAndNeverRefused()
    {
        var plan = new EnforcementPlanner(Kernel(lsm: false), UnenforceablePolicy.Refuse).Build(Make("p4", CompiledAction.Allow, Only(Getppid, Kill)), EnforcementMode.Enforce);
        Assert.Empty(plan.Refusals);
        Assert.Contains("signal after entry: the syscall may complete before the process dies", Assert.Single(plan.Report, a => a.Scope == "getppid (x86_64)").Explanation);
    }

    [Fact]
    public void AuditModeNeedsNoPreventionAndHasItsOwnVariant()
    {
        var plan = new EnforcementPlanner(Kernel(lsm: false), UnenforceablePolicy.Refuse).Build(Make("p5", CompiledAction.Errno(1)), EnforcementMode.Audit);
        Assert.Empty(plan.Refusals);
        Assert.Equal(3u, plan.Image.Variant);
        Assert.All(plan.Report, a => Assert.Equal(EnforcementMechanism.AuditLog, a.Mechanism));
    }

    [Fact]
    public void RulesAreContiguousPerSyscallInProfileOrder()
    {
        var profile = WriteRule(Kill, Log(), "p6");
        var plan = new EnforcementPlanner(Kernel(lsm: false), UnenforceablePolicy.Refuse).Build(profile, EnforcementMode.Enforce);
        var write = plan.Image.Syscalls.Single(s => s.Nr == Write).Value;
        Assert.Equal((0u, 2u), (write.FirstRule, write.RuleCount));
        Assert.Equal((byte)SeccompAction.Allow, plan.Image.Rules[0].Action.Kind);
        Assert.Equal((byte)SeccompAction.KillProcess, plan.Image.Rules[1].Action.Kind);
        Assert.Equal(2u, plan.Image.Rules[1].CheckCount);
        Assert.Equal((byte)CompareOp.GreaterThan, plan.Image.Rules[1].Checks[1].Op);
        Assert.Equal(512UL, plan.Image.Rules[1].Checks[1].Value);
    }

    [Theory]
    [InlineData("too many rules")]
    [InlineData("argument 6")]
    [InlineData("bad hash")]
    [InlineData("duplicate syscall")]
    public void BadProfilesGetAClearError(string what)
    {
        var planner = new EnforcementPlanner(Kernel(lsm: false), UnenforceablePolicy.Refuse);
        CompiledProfile profile = what switch
        {
            "too many rules" => Make("bad1", CompiledAction.Allow, new CompiledSyscall(Getppid,
                Enumerable.Range(0, 257).Select(i => new CompiledRule([.. Enumerable.Range(0, 6).Select(a => new ArgCheck((byte)a, CompareOp.Equal, (ulong)i)), new ArgCheck(0, CompareOp.NotEqual, 7)], Kill)).ToList(), CompiledAction.Allow)),
            "argument 6" => Make("bad2", CompiledAction.Allow, new CompiledSyscall(Getppid, [new CompiledRule([new ArgCheck(6, CompareOp.Equal, 1)], Kill)], CompiledAction.Allow)),
            "bad hash" => Make("bad3", CompiledAction.Allow) with { Hash = "XYZ" },
            _ => Make("bad4", CompiledAction.Allow, Only(Getppid, Kill), Only(Getppid, Log())),
        };
        var error = Assert.Throws<ArgumentException>(() => planner.Build(profile, EnforcementMode.Enforce));
        Assert.Contains(what switch
        {
            "too many rules" => "has 257 conditional rules needing 514 map entries of 6 checks; the BPF evaluator takes at most 512",
            "argument 6" => "checks argument 6",
            "bad hash" => "is not 64 lower-case hex digits",
            _ => "getppid (x86_64) appears twice",
        }, error.Message);
    }

    [Theory]
    [InlineData(X86_64, 2u, "file_open")]          // x86_64 open
    [InlineData(I386, 5u, "file_open")]            // i386 open
    [InlineData(X86_64, 5u, null)]                 // x86_64 fstat: number 5 means something else here
    [InlineData(X86_64, 0x40000101u, "file_open")] // x32 openat
    [InlineData(I386, 172u, "task_prctl")]         // i386 prctl
    [InlineData(X86_64, 263u, "inode_unlink")]     // unlinkat: unlink or rmdir
    [InlineData(X86_64, 101u, null)]               // ptrace: not every request passes a hook
    public void LsmHookTableIsKeyedByArchAndNumber(uint arch, uint nr, string? firstHook)
        => Assert.Equal(firstHook, LsmHookTable.HooksFor(arch, nr)?.First());
}
