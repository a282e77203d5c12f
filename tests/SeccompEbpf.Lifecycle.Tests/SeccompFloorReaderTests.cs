using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Daemon;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compiled;
using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>
/// Where a container's kernel seccomp floor comes from: the NRI request (containerd 2.3+), else the task bundle's
/// config.json (a real one containerd 1.7.24 wrote for a RuntimeDefault container), found through the shim's
/// directory or a configured root; anything unreadable is no floor, never an exception.
/// </summary>
public sealed class SeccompFloorReaderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sebpf-floor-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string Fixture(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Join(dir.FullName, "SeccompEbpf.sln")))
            dir = dir.Parent;
        return Path.Join(dir?.FullName ?? throw new InvalidOperationException("no SeccompEbpf.sln above the test binaries"), "tests", "Shared", "floors", name);
    }

    private const string Containerd17 = "containerd-1.7.24-runtime-default.config.json";

    private SeccompFloorReader Reader() => new([_root], NullLogger<SeccompFloorReader>.Instance);

    private string Bundle(string containerId, string configJson)
    {
        var dir = Directory.CreateDirectory(Path.Join(_root, containerId)).FullName;
        File.WriteAllText(Path.Join(dir, "config.json"), configJson);
        return Path.Join(dir, "config.json");
    }

    private static Container Nri(string id, LinuxSeccomp? policy = null) =>
        new() { Id = id, Name = "probe", Linux = policy is null ? new LinuxContainer() : new LinuxContainer { SeccompPolicy = policy } };

    [Fact]
    public void ContainerdsRuntimeDefaultBundleIsAFloorThatLeavesOnlyIoUringToRuntimeDefaultAndTheNewerSyscallsToDockersDefault()
    {
        Bundle("c17", File.ReadAllText(Fixture(Containerd17)));
        var floor = Reader().Read(Nri("c17"), pid: 0);
        Assert.NotNull(floor);
        Assert.Equal("task bundle config.json", floor.Source);
        // containerd 1.7's default still allows io_uring; the built-in runtime/default denies it (moby#46762)
        var kernel = new KernelCapabilities("no-lsm", "capability", Enum.GetValues<KernelMechanism>()
            .Select(m => new MechanismProbe(m, m is not (KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup or KernelMechanism.FmodRet or KernelMechanism.FmodRetSecurity or KernelMechanism.KprobeOverride), 1, "recorded")).ToList());
        var runtimeDefault = BuiltInProfiles.Compile("runtime/default", ContainerDefaults.CompileContext()).Profile;
        var plan = EnforcementPlans.Plan(kernel, UnenforceablePolicy.LogUnpreventableDefault, runtimeDefault, EnforcementMode.Enforce, floor);
        Assert.True(plan.Exactness.NeedsSysEnter);
        Assert.Equal(["io_uring_setup", "io_uring_enter", "io_uring_register"], plan.Exactness.Summary.NotPreventedSyscalls);
        Assert.True(plan.Exactness.Summary.KernelSeccomp > 60);
        // Docker's default (the fixture's moby commit) does not name the syscalls containerd's RuntimeDefault allows
        // beyond it (cachestat, fchmodat2, the futex2 calls, map_shadow_stack): it denies them where the floor lets them
        // through, so they are left to our programs, and without an LSM here they are not prevented.
        var docker = Profiles.Parsing.ProfileParser.ParseFile(Path.Join(Path.GetDirectoryName(Path.GetDirectoryName(Fixture(Containerd17)))!, "profiles", "docker-default.json")).Profile!;
        var dockerPlan = EnforcementPlans.Plan(kernel, UnenforceablePolicy.LogUnpreventableDefault, Profiles.Compilation.ProfileCompiler.Compile(docker, ContainerDefaults.CompileContext()).Profile, EnforcementMode.Enforce, floor);
        Assert.True(dockerPlan.Exactness.NeedsSysEnter);
        Assert.Equal(["cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue"], dockerPlan.Exactness.Summary.NotPreventedSyscalls);
    }

    [Fact]
    public void TheBundleIsFoundBesideTheShimsDirectoryWhateverTheStateDirectory()
    {
        // a stand-in shim: a process whose working directory is the pod's sandbox bundle, parent of the container's init
        var tasks = Directory.CreateDirectory(Path.Join(_root, "elsewhere", "io.containerd.runtime.v2.task", "k8s.io")).FullName;
        var sandbox = Directory.CreateDirectory(Path.Join(tasks, "sandbox1")).FullName;
        var container = Directory.CreateDirectory(Path.Join(tasks, "c-shim")).FullName;
        File.Copy(Fixture(Containerd17), Path.Join(container, "config.json"));
        using var shim = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "sleep 30 & echo $!; wait"])
            { WorkingDirectory = sandbox, RedirectStandardOutput = true, UseShellExecute = false })!;
        int init = int.Parse(shim.StandardOutput.ReadLine()!);
        try
        {
            var reader = new SeccompFloorReader(["/nonexistent"], NullLogger<SeccompFloorReader>.Instance);
            Assert.Equal(Path.Join(container, "config.json"), reader.BundleConfig("c-shim", init));
            Assert.Null(reader.BundleConfig("c-other", init));
            Assert.Null(reader.BundleConfig("../c-shim", init));
            Assert.NotNull(reader.Read(Nri("c-shim"), init));
        }
        finally
        {
            Process.GetProcessById(init).Kill();
            shim.WaitForExit();
        }
    }

    [Fact]
    public void UnconfinedMissingMalformedOrUncompilableSpecsAreNoFloor()
    {
        var reader = Reader();
        Bundle("unconfined", """{"ociVersion":"1.1.0","linux":{"namespaces":[]}}""");
        Assert.Null(reader.Read(Nri("unconfined"), 0));
        Assert.Null(reader.Read(Nri("missing"), 0));
        Bundle("garbage", "{not json");
        Assert.Null(reader.Read(Nri("garbage"), 0));
        Bundle("bad-action", """{"ociVersion":"1.1.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_SOMETIMES"}}}""");
        Assert.Null(reader.Read(Nri("bad-action"), 0));
    }

    [Fact]
    public void TheNriSeccompPolicyWinsOverTheBundleAndKeepsArgumentsAndErrnos()
    {
        Bundle("c-nri", """{"ociVersion":"1.1.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}""");
        var policy = new LinuxSeccomp { DefaultAction = "SCMP_ACT_ERRNO", DefaultErrno = new OptionalUInt32 { Value = 1 } };
        policy.Architectures.Add("SCMP_ARCH_X86_64");
        var personality = new LinuxSyscall { Action = "SCMP_ACT_ALLOW" };
        personality.Names.Add("personality");
        personality.Args.Add(new LinuxSeccompArg { Index = 0, Value = 8, Op = "SCMP_CMP_EQ" });
        var mkdir = new LinuxSyscall { Action = "SCMP_ACT_ERRNO", ErrnoRet = new OptionalUInt32 { Value = 13 } };
        mkdir.Names.Add("mkdir");
        policy.Syscalls.Add(personality);
        policy.Syscalls.Add(mkdir);

        var floor = Reader().Read(Nri("c-nri", policy), 0);
        Assert.NotNull(floor);
        Assert.Equal("NRI seccomp_policy", floor.Source);
        var x86 = floor.Profile.Arches.Single(a => a.AuditArch == 0xC000003E);
        Assert.Equal(CompiledAction.Errno(1), x86.DefaultAction);
        Assert.Equal(CompiledAction.Errno(13), x86.Syscalls.Single(s => s.Nr == 83).Fallback);
        var rule = Assert.Single(x86.Syscalls.Single(s => s.Nr == 135).Rules);
        Assert.Equal(8UL, Assert.Single(rule.Checks).Value);
    }

    [Fact]
    public void TheBinderHandsTheContainersFloorToTheEngine()
    {
        using var h = new LifecycleHarness();
        var binder = new PolicyBinder(h.Engine, null, InvalidPolicyAction.Veto);
        Bundle("c1", File.ReadAllText(Fixture(Containerd17)));
        var floor = Reader().Read(Nri("c1"), 0)!;
        var container = Container("c1", "p1") with { Phase = ContainerPhase.Started, Pid = 4242, CgroupId = 77, Floor = floor };
        var policy = new ContainerPolicy("c1", new PolicySelection("runtime/default", "test", PolicyMode.Enforce, null), Profile: h.Profiles.Get("runtime/default"), State: PolicyState.Pending);
        Assert.IsType<BindOutcome.Bound>(binder.Bind(container, policy, mayVeto: true));
        Assert.Equal(floor.Profile.Hash, Assert.Single(h.Engine.Calls).FloorHash);
    }
}
