using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// The fast paths of handle_sys_enter never answer from stale state: the per-task binding cache (bpf/lib/binding.h)
/// follows a task into another cgroup and every binding change, and the allow bitmaps say ALLOW exactly where the
/// decision procedure would.
/// </summary>
public sealed class TaskCacheTests : IDisposable
{
    private const int KilledBySigkill = 128 + 9;
    private const ulong LoopTag = 0xCAC4E;
    private readonly EngineScope _scope = new("taskcache");

    public void Dispose() => _scope.Dispose();

    // the loop's getppid calls all carry the tag: killed on sight once the task is managed
    private static CompiledProfile KillTheLoop(string label) => Make(label, CompiledAction.Allow,
        new CompiledSyscall(Getppid, [new CompiledRule([new ArgCheck(1, CompareOp.Equal, LoopTag)], Kill)], CompiledAction.Allow));

    /// <summary>Runs a getppid loop long enough that its unmanaged (or allowed) answer is cached many times over.</summary>
    private static SyscallDriver StartLoop(TestCgroup cgroup)
    {
        var driver = SyscallDriver.Start(cgroup, $"loop:0x{LoopTag:x}:64");
        driver.Go();
        Thread.Sleep(300);
        return driver;
    }

    private static void AssertStillRunning(SyscallDriver driver, string why)
    {
        // the loop exits only by SIGUSR1 or a kill; alive here means the syscalls so far were not judged as managed
        Assert.False(HasExited(driver), why);
    }

    private static bool HasExited(SyscallDriver driver) => !Directory.Exists($"/proc/{driver.Pid}/task") || File.ReadAllText($"/proc/{driver.Pid}/stat").Split(' ')[2] == "Z";

    [Fact]
    public void AnUnmanagedTaskThatJoinsABoundCgroupIsManagedAtItsNextSyscall()
    {
        using var engine = _scope.Open();
        using var bound = TestCgroup.Create("joined");
        using var other = TestCgroup.Create("before");
        engine.Bind(bound.Id, KillTheLoop("cache-join"), EnforcementMode.Enforce);
        using var driver = StartLoop(other);
        AssertStillRunning(driver, "a task outside the bound cgroup was judged by its profile");
        ulong lookupsBefore = engine.ReadCounters().BindingLookups;
        Thread.Sleep(200);
        // the cache answers: the loop makes tens of thousands of syscalls in that time, and without the cache each
        // would be a lookup; with it, only new tasks and threads on the node (one lookup each) are counted
        Assert.True(engine.ReadCounters().BindingLookups - lookupsBefore < 20_000,
            $"binding lookups while one unmanaged task looped: {engine.ReadCounters().BindingLookups - lookupsBefore}");

        // what runc does to a container's init before its exec: move the running task, no fork, no exec
        File.WriteAllText(Path.Combine(bound.Path, "cgroup.procs"), driver.Pid.ToString());

        Assert.Equal(KilledBySigkill, driver.WaitForExit());
    }

    [Fact]
    public void ACachedUnmanagedAnswerIsDroppedWhenABindingAppears()
    {
        using var engine = _scope.Open();
        using var elsewhere = TestCgroup.Create("elsewhere");
        using var target = TestCgroup.Create("target");
        // some binding, so that sys_enter runs and the target's task caches "not managed"
        engine.Bind(elsewhere.Id, KillTheLoop("cache-elsewhere"), EnforcementMode.Enforce);
        using var driver = StartLoop(target);
        AssertStillRunning(driver, "a task of an unbound cgroup was judged");

        engine.Bind(target.Id, KillTheLoop("cache-target"), EnforcementMode.Enforce);

        Assert.Equal(KilledBySigkill, driver.WaitForExit());
    }

    [Fact]
    public void ACachedAnswerForADescendantCgroupIsDroppedWhenItsAncestorIsBound()
    {
        using var engine = _scope.Open();
        using var elsewhere = TestCgroup.Create("elsewhere");
        using var parent = TestCgroup.Create("parent");
        using var child = parent.Child("child");
        engine.Bind(elsewhere.Id, KillTheLoop("cache-elsewhere2"), EnforcementMode.Enforce);
        using var driver = StartLoop(child);
        AssertStillRunning(driver, "a task of an unbound cgroup was judged");

        engine.Bind(parent.Id, KillTheLoop("cache-parent"), EnforcementMode.Enforce);

        Assert.Equal(KilledBySigkill, driver.WaitForExit());
    }

    [Fact]
    public void ARebindFromAllowedToKilledTakesEffectForARunningTask()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("rebind");
        // getppid allowed unconditionally: answered by the task's cached binding and the slot's allow bitmap
        engine.Bind(cgroup.Id, Make("cache-allow", CompiledAction.Allow), EnforcementMode.Enforce);
        using var driver = StartLoop(cgroup);
        AssertStillRunning(driver, "an allowed getppid loop was killed");
        Assert.True(engine.ReadCounters().Decisions[SeccompAction.Allow] > 100, "the loop's allowed calls are counted as decisions");

        engine.Rebind(cgroup.Id, KillTheLoop("cache-kill"), EnforcementMode.Enforce);

        Assert.Equal(KilledBySigkill, driver.WaitForExit());
    }

    [Fact]
    public async Task AfterAnUnbindARunningTaskIsNoLongerJudged()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("unbind");
        using var keeper = TestCgroup.Create("keeper");
        // a second binding keeps sys_enter attached after the unbind, so only the cache could keep the old answer
        engine.Bind(keeper.Id, KillTheLoop("cache-keeper"), EnforcementMode.Enforce);
        var logAll = Make("cache-log", CompiledAction.Allow, Only(Getppid, Log()));
        engine.Bind(cgroup.Id, logAll, EnforcementMode.Enforce);
        using var driver = StartLoop(cgroup);
        await engine.Events.ReadUntilAsync(e => e.Any(x => x.Pid == driver.Pid), "a logged getppid of the loop");

        engine.Unbind(cgroup.Id);
        ulong logsAfterUnbind = engine.ReadCounters().Decisions[SeccompAction.Log];
        Thread.Sleep(300);

        AssertStillRunning(driver, "the loop died");
        Assert.Equal(logsAfterUnbind, engine.ReadCounters().Decisions[SeccompAction.Log]);
    }

    public static TheoryData<string> Profiles => ["docker-sized-errno", "docker-sized-allow", "write-rule", "log-default"];

    private static CompiledProfile ProfileNamed(string name) => name switch
    {
        "docker-sized-errno" => DockerSized(CompiledAction.Errno(1), "bitmap-errno"),
        "docker-sized-allow" => DockerSized(CompiledAction.Allow, "bitmap-allow"),
        "write-rule" => WriteRule(Kill, Log(), "bitmap-write"),
        _ => Make("bitmap-log", Log(), Only(Getppid, CompiledAction.Allow), Only(Getpid, Kill)),
    };

    [Theory]
    [MemberData(nameof(Profiles))]
    public void AllowBitsAreSetExactlyWhereTheDecisionIsAllowWhateverTheArguments(string name)
    {
        var profile = ProfileNamed(name);
        foreach (bool lsm in new[] { false, true })
        {
            var image = new EnforcementPlanner(PlannerTests.Kernel(lsm), UnenforceablePolicy.DegradeToLog).Build(profile, EnforcementMode.Enforce).Image;
            foreach (uint arch in new[] { X86_64, I386 })
            {
                var bitmap = EnforcementEngine.AllowBitmapOf(image, arch);
                for (uint nr = 0; nr < AllowBitmap.Syscalls; nr++)
                {
                    var syscall = profile.Arches.FirstOrDefault(a => a.AuditArch == arch)?.Syscalls.FirstOrDefault(s => s.Nr == nr);
                    bool alwaysAllowed = ArgumentSamples.All(args => ReferenceEvaluator.Evaluate(profile, arch, nr, args).Action.Kind == SeccompAction.Allow);
                    bool ruleFree = syscall is null || syscall.Rules.All(r => r.Action.Kind == SeccompAction.Allow);
                    if (bitmap.IsSet(nr))
                        Assert.True(alwaysAllowed, $"{name}: {arch:x} nr {nr} has its allow bit but is not always allowed");
                    else if (ruleFree)
                        Assert.False(alwaysAllowed, $"{name}: {arch:x} nr {nr} is always allowed but has no allow bit");
                }
            }
        }
    }

    private static readonly ulong[][] ArgumentSamples =
    [
        [0, 0, 0, 0, 0, 0],
        [1, 512, 513, 3, 4, 5],
        [0x7E020000, 8, 0x20000, 0xffffffff, ulong.MaxValue, 1],
        [2, 1, 100000, 0, 0, 0],
    ];
}
