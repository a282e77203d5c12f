using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Syscalls;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>Live recording (bpf/lib/record.h): the syscalls real processes in a bound cgroup attempt, as the kernel saw them.</summary>
public sealed class RecordingTests : IDisposable
{
    private const uint ExitGroup = 231;
    private readonly EngineScope _scope = new("record");

    public void Dispose() => _scope.Dispose();

    // prctl is logged, getppid allowed, everything else allowed: the recording holds what was attempted, whatever the verdict
    private static CompiledProfile LogPrctl(string label) => Make(label, CompiledAction.Allow, Only(Prctl, Log()));

    /// <summary>
    /// Waits until the driver sleeps in read(0, ...) for its "go": its "ready" line comes just before that read, and a
    /// recording started in between would hold the read or not by chance.
    /// </summary>
    private static void WaitUntilBlockedInRead(SyscallDriver driver)
    {
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (!File.ReadAllText($"/proc/{driver.Pid}/syscall").StartsWith("0 0x0 ", StringComparison.Ordinal))
        {
            if (guard.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException("the driver never blocked in read(0) (deadlock guard)");
            Thread.Sleep(1);
        }
    }

    [Fact]
    public void RecordingHoldsExactlyTheSyscallsTheProcessMade()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("exact");
        // the driver's start-up syscalls happen before it blocks in read(): recording starts after, so they are not in it
        using var driver = SyscallDriver.Start(cgroup, "getppid:3", "prctl", "write:5:1");
        engine.Bind(cgroup.Id, LogPrctl("record-exact"), EnforcementMode.Enforce);
        WaitUntilBlockedInRead(driver);
        engine.StartRecording(cgroup.Id);
        Assert.True(Assert.Single(engine.Bindings, b => b.CgroupId == cgroup.Id).Recording);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());

        var recording = engine.ReadRecording(cgroup.Id);
        Assert.NotNull(recording);
        Assert.Equal([Write, Getppid, Prctl, ExitGroup], recording.Syscalls[SyscallArch.X86_64]);
        Assert.Empty(recording.Syscalls[SyscallArch.I386]);
        Assert.Empty(recording.Syscalls[SyscallArch.X32]);
        Assert.False(recording.OutOfRange);
    }

    [Fact]
    public void StartingAgainResetsTheSetAndARebindKeepsRecording()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("reset");
        engine.Bind(cgroup.Id, LogPrctl("record-reset"), EnforcementMode.Enforce);
        engine.StartRecording(cgroup.Id);
        using (var first = SyscallDriver.Start(cgroup, "getppid:1"))
        {
            first.Go();
            Assert.Equal(0, first.WaitForExit());
        }
        Assert.Contains(Getppid, engine.ReadRecording(cgroup.Id)!.Syscalls[SyscallArch.X86_64]);

        using var second = SyscallDriver.Start(cgroup, "prctl");
        WaitUntilBlockedInRead(second);
        engine.StartRecording(cgroup.Id);
        Assert.All(engine.ReadRecording(cgroup.Id)!.Syscalls.Values, Assert.Empty);
        // a new profile for the container does not end its recording
        engine.Rebind(cgroup.Id, Make("record-reset-2", CompiledAction.Allow, Only(Getpid, Log())), EnforcementMode.Audit);
        second.Go();
        Assert.Equal(0, second.WaitForExit());
        Assert.Equal([Prctl, ExitGroup], engine.ReadRecording(cgroup.Id)!.Syscalls[SyscallArch.X86_64]);
        Assert.True(Assert.Single(engine.Bindings, b => b.CgroupId == cgroup.Id).Recording);

        engine.StopRecording(cgroup.Id);
        Assert.Null(engine.ReadRecording(cgroup.Id));
        Assert.False(Assert.Single(engine.Bindings, b => b.CgroupId == cgroup.Id).Recording);
        Assert.Equal(0, engine.MapEntryCounts()["recordings"]);
    }

    [Fact]
    public void ANonRecordingBindingRecordsNothing()
    {
        using var engine = _scope.Open();
        using var recorded = TestCgroup.Create("recorded");
        using var quiet = TestCgroup.Create("quiet");
        engine.Bind(recorded.Id, LogPrctl("record-quiet"), EnforcementMode.Enforce);
        engine.Bind(quiet.Id, LogPrctl("record-quiet"), EnforcementMode.Enforce);
        engine.StartRecording(recorded.Id);
        using (var driver = SyscallDriver.Start(quiet, "getppid:2", "prctl"))
        {
            driver.Go();
            Assert.Equal(0, driver.WaitForExit());
        }
        Assert.Null(engine.ReadRecording(quiet.Id));
        Assert.False(Assert.Single(engine.Bindings, b => b.CgroupId == quiet.Id).Recording);
        // the kernel holds one recording only, and the other container's syscalls did not land in it
        Assert.Equal(1, engine.MapEntryCounts()["recordings"]);
        Assert.All(engine.ReadRecording(recorded.Id)!.Syscalls.Values, Assert.Empty);
        Assert.Throws<InvalidOperationException>(() => engine.StartRecording(424242));
        engine.Unbind(recorded.Id);
        Assert.Equal(0, engine.MapEntryCounts()["recordings"]);
    }

    [Fact]
    public void RecordingEqualsAnIndependentRawTracepointTrace()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("reference");
        using var trace = BpfObject.Open(File.ReadAllBytes(SyscallDriver.BinaryPath("syscall-trace.bpf.o")), "sc_trace");
        trace.Load();
        trace.Map("target_cgroup").Update(0u, cgroup.Id);
        var entered = trace.Map("entered");

        // a thread's creation and exit, logged calls, a file removed: a varied set
        string victim = Path.GetTempFileName();
        using var driver = SyscallDriver.Start(cgroup, "getppid:2", "prctl", $"unlink:{victim}", "write:5:7", "thread-getppid");
        engine.Bind(cgroup.Id, LogPrctl("record-reference"), EnforcementMode.Enforce);
        WaitUntilBlockedInRead(driver);
        using (trace.Attach("trace_sys_enter"))
        {
            engine.StartRecording(cgroup.Id);
            driver.Go();
            Assert.Equal(0, driver.WaitForExit());
        }

        var traced = new List<uint>();
        for (uint nr = 0; nr < 1023; nr++)
            if (entered.TryLookup(nr, out ulong count) && count > 0)
                traced.Add(nr);
        Assert.True(entered.TryLookup(1023u, out ulong other) && other == 0, "the driver made no syscall outside the x86_64 table");
        var recording = engine.ReadRecording(cgroup.Id)!;
        Assert.Contains(Unlinkat, traced); // the trace saw the script, not nothing
        Assert.True(traced.Count >= 8, $"traced {string.Join(",", traced)}");
        Assert.Equal(traced, recording.Syscalls[SyscallArch.X86_64]);
        Assert.Empty(recording.Syscalls[SyscallArch.I386]);
        Assert.Empty(recording.Syscalls[SyscallArch.X32]);
    }
}
