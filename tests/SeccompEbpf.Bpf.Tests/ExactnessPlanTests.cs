using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;
using Xunit.Abstractions;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// The exactness plan (exact before entry / killed after entry / not prevented / refused) of the fixture profiles
/// against recorded capability sets: the host's (no BPF LSM, no trampolines), Debian's stock kernels (BPF LSM, no error
/// injection), a kernel with error injection as well, and Debian 6.12 booted without bpf in its LSM list (fmod_ret on
/// the security_* functions stands in for BPF LSM). Pure: no kernel, no root.
/// </summary>
public sealed class ExactnessPlanTests(ITestOutputHelper output)
{
    public enum KernelKind { NoLsm, Lsm, LsmAndErrorInjection, FmodRetSecurity }

    /// <summary>What the probes recorded on each kind of kernel (test-environment.md: host 6.18 microVM, Debian 6.1/6.12/7.x, 6.12-nobpflsm).</summary>
    private static KernelCapabilities Kernel(KernelKind kind) => new($"recorded-{kind}", kind switch
        {
            KernelKind.NoLsm => "lockdown,capability,landlock,bpf",
            KernelKind.FmodRetSecurity => "capability,landlock,lockdown,yama,apparmor",
            _ => "capability,bpf",
        },
        Enum.GetValues<KernelMechanism>().Select(m => m switch
        {
            KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup or KernelMechanism.FmodRetSecurity when kind == KernelKind.NoLsm => new MechanismProbe(m, false, 1, "trampolines refused"),
            KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup when kind == KernelKind.FmodRetSecurity => new MechanismProbe(m, false, 95, "attached, never ran"),
            KernelMechanism.FmodRet or KernelMechanism.KprobeOverride when kind != KernelKind.LsmAndErrorInjection => new MechanismProbe(m, false, 22, "no error injection"),
            _ => new MechanismProbe(m, true, 0, "ok"),
        }).ToList());

    private static readonly CompileContext Context = new(SyscallArch.X86_64, new HashSet<string>(StringComparer.Ordinal)
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    }, new KernelVersion(6, 12));

    internal static CompiledProfile Fixture(string name)
    {
        if (BuiltInProfiles.IsBuiltIn(name))
            return BuiltInProfiles.Compile(name, Context).Profile;
        var parsed = ProfileParser.ParseFile(Path.Combine(RepoRoot, "tests", "Shared", "profiles", name));
        Assert.NotNull(parsed.Profile);
        return ProfileCompiler.Compile(parsed.Profile, Context).Profile;
    }

    private static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SeccompEbpf.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"SeccompEbpf.sln not found above {AppContext.BaseDirectory}");
    }

    private static readonly int X86_64Syscalls = SyscallTables.Entries(SyscallArch.X86_64).Count;

    private static readonly HashSet<string> LsmCovered = [.. EnforcementConsequences.LsmEnforceableSyscalls];

    public static TheoryData<string, KernelKind> FixturesOnKernels()
    {
        var data = new TheoryData<string, KernelKind>();
        foreach (var profile in new[] { "runtime/default", "docker-default.json", "violation.json", "fine-grained.json", "busybox-recorded.json" })
            foreach (var kind in Enum.GetValues<KernelKind>())
                data.Add(profile, kind);
        return data;
    }

    [Theory]
    [MemberData(nameof(FixturesOnKernels))]
    public void RealProfilesBindUnderTheDefaultPolicyAndSayWhatIsNotPrevented(string name, KernelKind kind)
    {
        var profile = Fixture(name);
        var plan = new EnforcementPlanner(Kernel(kind), UnenforceablePolicy.LogUnpreventableDefault).Build(profile, EnforcementMode.Enforce);
        var summary = plan.Exactness.Summary;
        output.WriteLine($"{name} on {kind}: {summary}");
        foreach (var refusal in plan.Refusals)
            output.WriteLine($"  refused: {refusal}");

        Assert.Empty(plan.Refusals);
        Assert.Equal("x86_64", summary.Arch);
        Assert.Equal(X86_64Syscalls, summary.Exact + summary.AfterEntry + summary.NotPrevented + summary.Refused);
        Assert.Equal(0, summary.Refused);
        var x86 = plan.Exactness.Arches.Single(a => a.Arch == "x86_64");
        foreach (var syscall in x86.Syscalls)
        {
            bool onlyAllowed = syscall.Actions.All(a => a.Action.Kind == SeccompAction.Allow);
            bool hooked = kind != KernelKind.NoLsm && LsmCovered.Contains(syscall.Name);
            // every denial this kernel cannot stop is the default action (or an ENOSYS answer): allowed, logged, counted
            var expected = onlyAllowed || hooked ? Exactness.ExactBeforeEntry : Exactness.NotPrevented;
            Assert.True(expected == syscall.Class, $"{name} on {kind}: {syscall.Name} is {syscall.Class}, expected {expected} ({string.Join(", ", syscall.Actions)})");
        }
        // the image does what the plan says: the default action becomes LOG (flagged degraded), hooked syscalls are prevented
        var arch = plan.Image.Arches.Single(a => a.AuditArch == X86_64).Value;
        Assert.Equal((byte)SeccompAction.Log, arch.DefaultAction.Kind);
        Assert.Equal(ScAction.Degraded, arch.DefaultAction.Flags);
        Assert.Equal(kind != KernelKind.NoLsm, plan.Image.Syscalls.Any(s => s.AuditArch == X86_64 && s.Nr == 165 /* mount */ && s.Value.Fallback.Flags == ScAction.Prevent));
    }

    [Theory]
    [InlineData("violation.json", KernelKind.NoLsm, 0)]
    [InlineData("violation.json", KernelKind.Lsm, 78)]
    [InlineData("violation.json", KernelKind.FmodRetSecurity, 78)]
    [InlineData("fine-grained.json", KernelKind.NoLsm, 50)]
    public void CountsAreThoseOfTheRecordedKernels(string name, KernelKind kind, int exact)
    {
        var summary = EnforcementPlans.Classify(Kernel(kind), UnenforceablePolicy.LogUnpreventableDefault, Fixture(name), EnforcementMode.Enforce).Summary;
        Assert.Equal(exact, summary.Exact);
        Assert.Equal(X86_64Syscalls - exact, summary.NotPrevented);
        Assert.Equal(0, summary.AfterEntry);
        Assert.Contains("uname", summary.NotPreventedSyscalls);
        Assert.Equal(kind == KernelKind.NoLsm, summary.NotPreventedSyscalls.Contains("mkdir"));
    }

    [Fact]
    public void ErrorInjectionClaimsNothingUntilTheEngineUsesIt()
    {
        // fmod_ret and kprobe override are probed but carry no verdict yet: a kernel offering them gets the LSM-only plan
        var profile = Fixture("docker-default.json");
        var lsm = EnforcementPlans.Classify(Kernel(KernelKind.Lsm), UnenforceablePolicy.LogUnpreventableDefault, profile, EnforcementMode.Enforce);
        var both = EnforcementPlans.Classify(Kernel(KernelKind.LsmAndErrorInjection), UnenforceablePolicy.LogUnpreventableDefault, profile, EnforcementMode.Enforce);
        Assert.Equal(lsm.Summary.ToString(), both.Summary.ToString());
        Assert.Equal(lsm.Summary.NotPreventedSyscalls, both.Summary.NotPreventedSyscalls);
    }

    [Fact]
    public void RefuseStaysStrictForTheDefaultAction()
    {
        var profile = Fixture("docker-default.json");
        foreach (var kind in Enum.GetValues<KernelKind>())
        {
            var plan = new EnforcementPlanner(Kernel(kind), UnenforceablePolicy.Refuse).Build(profile, EnforcementMode.Enforce);
            Assert.Contains(plan.Refusals, r => r.StartsWith("Errno(1) for default action (x86_64)", StringComparison.Ordinal));
            Assert.True(plan.Exactness.Summary.Refused > 0);
            Assert.Equal(0, plan.Exactness.Summary.NotPrevented);
            Assert.Contains(plan.Report, a => a.Mechanism == EnforcementMechanism.Refused);
        }
    }

    [Fact]
    public void NamedRulesFollowTheStrictPolicyExceptNotImplementedAnswers()
    {
        // getpid ERRNO(EACCES) is the profile's own denial: refused; personality ERRNO(ENOSYS) is a "not implemented"
        // answer and gettid's ERRNO(EPERM) equals the default: both logged, like the unnamed syscalls
        var profile = Make("named", CompiledAction.Errno(1), Only(Getppid, CompiledAction.Allow), Only(Getpid, CompiledAction.Errno(13)),
            Only(135 /* personality */, CompiledAction.Errno(38)), Only(186 /* gettid */, CompiledAction.Errno(1)));
        var plan = new EnforcementPlanner(Kernel(KernelKind.NoLsm), UnenforceablePolicy.LogUnpreventableDefault).Build(profile, EnforcementMode.Enforce);
        Assert.StartsWith("Errno(13) for getpid (x86_64)", Assert.Single(plan.Refusals));
        var x86 = plan.Exactness.Arches.Single(a => a.Arch == "x86_64").Syscalls.ToDictionary(s => s.Name);
        Assert.Equal(Exactness.Refused, x86["getpid"].Class);
        Assert.Equal(Exactness.NotPrevented, x86["personality"].Class);
        Assert.Equal(Exactness.NotPrevented, x86["gettid"].Class);
        Assert.Equal(Exactness.ExactBeforeEntry, x86["getppid"].Class);
        Assert.Equal(Exactness.NotPrevented, x86["uname"].Class);
        Assert.Equal(ActionOrigin.DefaultAction, Assert.Single(x86["uname"].Actions).Origin);
    }

    [Fact]
    public void ConditionalRulesFallThroughToTheDefaultAction()
    {
        // Docker's clone: allowed without namespace flags, otherwise the default action (not a rule of its own)
        var x86 = EnforcementPlans.Classify(Kernel(KernelKind.NoLsm), UnenforceablePolicy.LogUnpreventableDefault, Fixture("docker-default.json"), EnforcementMode.Enforce)
            .Arches.Single(a => a.Arch == "x86_64").Syscalls.ToDictionary(s => s.Name);
        Assert.Contains(x86["clone"].Actions, a => a is { Origin: ActionOrigin.DefaultAction, Class: Exactness.NotPrevented });
        Assert.Contains(x86["clone"].Actions, a => a is { Origin: ActionOrigin.Rule, Class: Exactness.ExactBeforeEntry });
        Assert.Contains(x86["clone3"].Actions, a => a is { Origin: ActionOrigin.Rule, Class: Exactness.NotPrevented } && a.Action == CompiledAction.Errno(38));
    }

    [Fact]
    public void KillWithoutPreventionIsAfterEntryAndAuditIsNotPrevented()
    {
        var kill = EnforcementPlans.Classify(Kernel(KernelKind.NoLsm), UnenforceablePolicy.Refuse, Make("kill", Kill, Only(Getppid, CompiledAction.Allow)), EnforcementMode.Enforce).Summary;
        Assert.Equal((1, X86_64Syscalls - 1, 0), (kill.Exact, kill.AfterEntry, kill.NotPrevented));
        var killLsm = EnforcementPlans.Classify(Kernel(KernelKind.Lsm), UnenforceablePolicy.Refuse, Make("kill", Kill, Only(Getppid, CompiledAction.Allow)), EnforcementMode.Enforce).Summary;
        Assert.Contains("getpid", killLsm.AfterEntrySyscalls);
        Assert.DoesNotContain("mkdir", killLsm.AfterEntrySyscalls);

        var audit = EnforcementPlans.Classify(Kernel(KernelKind.Lsm), UnenforceablePolicy.Refuse, Fixture("fine-grained.json"), EnforcementMode.Audit).Summary;
        Assert.Equal((50, X86_64Syscalls - 50, 0), (audit.Exact, audit.NotPrevented, audit.Refused));
    }

    [Fact]
    public void ErrnoZeroDefaultIsNotClaimedAtAHook()
    {
        // a hook returning 0 lets the syscall run: ERRNO(0) cannot be prevented there, neither named nor as the default
        var plan = new EnforcementPlanner(Kernel(KernelKind.Lsm), UnenforceablePolicy.LogUnpreventableDefault)
            .Build(Make("errno0", CompiledAction.Errno(0)), EnforcementMode.Enforce);
        Assert.DoesNotContain(plan.Image.Syscalls, s => s.AuditArch == X86_64 && s.Nr == 83 /* mkdir */);
        Assert.Equal(0, plan.Exactness.Summary.Exact);
    }

    [Fact]
    public void ASyscallTheKernelLacksIsNotClaimedAtItsHook()
    {
        // Debian's 6.1 has no fchmodat2 (6.6): the call fails with ENOSYS before inode_setattr, never with the profile's
        // errno, so only the kernels that have it claim it; the hook itself stays for chmod and the rest
        var lsm = Kernel(KernelKind.Lsm);
        var without = new KernelCapabilities(lsm.KernelRelease, lsm.ActiveLsms, lsm.Probes, absentSyscalls: new HashSet<string> { "fchmodat2" });
        var summary = EnforcementPlans.Classify(without, UnenforceablePolicy.LogUnpreventableDefault, Fixture("violation.json"), EnforcementMode.Enforce).Summary;
        Assert.Equal(77, summary.Exact);
        Assert.Contains("fchmodat2", summary.NotPreventedSyscalls);
        Assert.DoesNotContain("fchmodat", summary.NotPreventedSyscalls);
        Assert.Contains("lsm_inode_setattr", LsmHookTable.ProgramsFor(without.MissingLsmHooks));
        Assert.Null(LsmHookTable.HooksFor(SyscallTable.AuditArchX86_64, 452, without));
        Assert.Equal(["inode_setattr"], LsmHookTable.HooksFor(SyscallTable.AuditArchX86_64, 452, lsm)!);
        Assert.Equal(["fchmodat2"], LsmHookTable.SyscallsNewerThanLinux61);
    }

    [Fact]
    public void AHookTheKernelLacksClaimsNoneOfItsSyscalls()
    {
        // a kernel whose BTF has no bpf_lsm_inode_setattr: the attribute changes are not claimed, the rest of the table is
        var lsm = Kernel(KernelKind.Lsm);
        var withoutSetattr = new KernelCapabilities(lsm.KernelRelease, lsm.ActiveLsms, lsm.Probes, new HashSet<string> { "inode_setattr" });
        string[] setattr = ["utime", "utimes", "futimesat", "utimensat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate", "ftruncate"];
        var summary = EnforcementPlans.Classify(withoutSetattr, UnenforceablePolicy.LogUnpreventableDefault, Fixture("violation.json"), EnforcementMode.Enforce).Summary;
        Assert.Equal(78 - setattr.Length, summary.Exact);
        Assert.All(setattr, s => Assert.Contains(s, summary.NotPreventedSyscalls));
        Assert.DoesNotContain("mkdir", summary.NotPreventedSyscalls);
        Assert.DoesNotContain(LsmHookTable.ProgramsFor(withoutSetattr.MissingLsmHooks), p => p == "lsm_inode_setattr");
        Assert.Contains("lsm_file_open", LsmHookTable.ProgramsFor(withoutSetattr.MissingLsmHooks));

        // a rule naming such a syscall follows the configured policy: refused under Refuse
        var plan = new EnforcementPlanner(withoutSetattr, UnenforceablePolicy.Refuse).Build(Make("chmod", CompiledAction.Allow, Only(90 /* chmod */, CompiledAction.Errno(13))), EnforcementMode.Enforce);
        Assert.Contains(plan.Refusals, r => r.StartsWith("Errno(13) for chmod (x86_64)", StringComparison.Ordinal));
        var mkdir = new EnforcementPlanner(withoutSetattr, UnenforceablePolicy.Refuse).Build(Make("mkdir", CompiledAction.Allow, Only(83 /* mkdir */, CompiledAction.Errno(13))), EnforcementMode.Enforce);
        Assert.Empty(mkdir.Refusals);
    }

    [Fact]
    public void TheFmodRetFallbackMakesTheSameSyscallsExactAndSaysSo()
    {
        // without BPF LSM, fmod_ret on the hooks' security_* functions stops the same syscalls at the same point
        var lsm = Kernel(KernelKind.Lsm);
        var fallback = Kernel(KernelKind.FmodRetSecurity);
        Assert.True(fallback.CanPreventSyscalls);
        Assert.True(fallback.PreventsThroughFmodRet);
        Assert.False(lsm.PreventsThroughFmodRet);
        foreach (var name in new[] { "runtime/default", "docker-default.json", "violation.json", "fine-grained.json" })
        {
            var withLsm = EnforcementPlans.Classify(lsm, UnenforceablePolicy.LogUnpreventableDefault, Fixture(name), EnforcementMode.Enforce);
            var withFallback = EnforcementPlans.Classify(fallback, UnenforceablePolicy.LogUnpreventableDefault, Fixture(name), EnforcementMode.Enforce);
            Assert.Equal(withLsm.Summary.ToString(), withFallback.Summary.ToString());
            Assert.Equal(Exact(withLsm), Exact(withFallback));
        }

        // the report names the mechanism: fmod_ret on the function (settime's is security_settime64), not a BPF LSM hook
        var profile = Make("fallback", CompiledAction.Allow, Only(257 /* openat */, CompiledAction.Errno(13)), Only(164 /* settimeofday */, CompiledAction.Errno(1)),
            Only(62 /* kill */, Kill));
        var plan = new EnforcementPlanner(fallback, UnenforceablePolicy.Refuse).Build(profile, EnforcementMode.Enforce);
        Assert.Empty(plan.Refusals);
        var openat = Assert.Single(plan.Report, a => a.Scope == "openat (x86_64)");
        Assert.Equal(EnforcementMechanism.LsmHook, openat.Mechanism);
        Assert.Equal("Errno(13) for openat (x86_64): stopped at fmod_ret on security_file_open/security_path_mknod (BPF LSM does not run here) (except O_PATH opens), which returns -13", openat.Explanation);
        Assert.Contains("stopped at fmod_ret on security_settime64 ", Assert.Single(plan.Report, a => a.Scope == "settimeofday (x86_64)").Explanation);
        Assert.Contains("stopped at fmod_ret on security_task_kill ", Assert.Single(plan.Report, a => a.Scope == "kill (x86_64)").Explanation);
        Assert.DoesNotContain(plan.Report, a => a.Explanation.Contains("BPF LSM hook", StringComparison.Ordinal));
        // with BPF LSM the same profile reads as before
        var lsmPlan = new EnforcementPlanner(lsm, UnenforceablePolicy.Refuse).Build(profile, EnforcementMode.Enforce);
        Assert.Equal("Errno(13) for openat (x86_64): stopped at the BPF LSM hook file_open/path_mknod (except O_PATH opens), which returns -13",
            Assert.Single(lsmPlan.Report, a => a.Scope == "openat (x86_64)").Explanation);
        Assert.Equal(lsmPlan.Image.Syscalls.Select(s => (s.AuditArch, s.Nr, s.Value.Fallback.Flags)), plan.Image.Syscalls.Select(s => (s.AuditArch, s.Nr, s.Value.Fallback.Flags)));

        // one family is loaded: the fmodret_ twins where the fallback prevents
        Assert.Contains("fmodret_task_kill", LsmHookTable.ProgramsFor(fallback.MissingLsmHooks, fallback.PreventsThroughFmodRet));
        Assert.DoesNotContain(LsmHookTable.ProgramsFor(fallback.MissingLsmHooks, fallback.PreventsThroughFmodRet), p => p.StartsWith("lsm_", StringComparison.Ordinal));
        Assert.Equal(LsmHookTable.Hooks.Count, LsmHookTable.ProgramsFor(fallback.MissingLsmHooks, fallback.PreventsThroughFmodRet).Count);

        static List<string> Exact(ExactnessPlan plan)
            => plan.Arches.Single(a => a.Arch == "x86_64").Syscalls.Where(s => s.Class == Exactness.ExactBeforeEntry).Select(s => s.Name).ToList();
    }

    [Fact]
    public void SummaryReadsAsTheCliPrintsIt()
        => Assert.Equal("exact 291 · after-entry 3 · not prevented 9", new ExactnessSummary("x86_64", 291, 3, 9, 0, [], [], []).ToString());
}
