using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>Live recording (bpf/lib/record.h): the syscalls real processes in a bound cgroup attempt, as the kernel saw them.</summary>
public sealed class RecordingTests : IDisposable
{
    private const uint ExitGroup = 231, Personality = 135;
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

    private static RecordedArgument ArgumentOf(SyscallRecording recording, string syscall) =>
        Assert.Single(recording.Arguments!, a => a.Syscall == syscall);

    [Fact]
    public void RecordedArgumentValuesAreExactlyThoseTheDriverPassed()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("args-exact");
        // personality: a query (0xffffffff), then two personas set (ADDR_NO_RANDOMIZE, then PER_LINUX again), one
        // repeated; getppid's second argument is 0x2222 in every call; clone is never called by this script
        using var driver = SyscallDriver.Start(cgroup, "personality:0xffffffff", "personality:0x0040000", "getppid:3", "personality:0", "personality:0xffffffff");
        engine.Bind(cgroup.Id, LogPrctl("record-args-exact"), EnforcementMode.Enforce);
        WaitUntilBlockedInRead(driver);
        engine.StartRecording(cgroup.Id);
        engine.RecordArguments(cgroup.Id, [new("personality", 0), new("getppid", 1), new("clone", 0)]);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());

        var recording = engine.ReadRecording(cgroup.Id)!;
        Assert.Equal([Getppid, Personality, ExitGroup], recording.Syscalls[SyscallArch.X86_64]);
        Assert.Equal(["personality", "getppid", "clone"], recording.Arguments!.Select(a => a.Syscall));
        var personality = ArgumentOf(recording, "personality");
        Assert.Equal((0, false), (personality.Index, personality.Overflow));
        Assert.Equal([0UL, 0x40000, 0xffffffff], personality.Values);
        var getppid = ArgumentOf(recording, "getppid");
        Assert.Equal((1, false), (getppid.Index, getppid.Overflow));
        Assert.Equal([0x2222UL], getppid.Values);
        Assert.Empty(ArgumentOf(recording, "clone").Values);
    }

    [Fact]
    public void MoreDistinctValuesThanTheRecorderHoldsSetOverflowAndLeaveTheOtherSlotsExact()
    {
        using var engine = _scope.Open();
        using var cgroup = TestCgroup.Create("args-overflow");
        int many = ArgumentToRecord.MaxValues + 4;
        using var driver = SyscallDriver.Start(cgroup, $"getppid-seq:{many}", "personality:0xffffffff");
        engine.Bind(cgroup.Id, LogPrctl("record-args-overflow"), EnforcementMode.Enforce);
        WaitUntilBlockedInRead(driver);
        engine.StartRecording(cgroup.Id);
        engine.RecordArguments(cgroup.Id, [new("getppid", 0), new("personality", 0)]);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());

        var recording = engine.ReadRecording(cgroup.Id)!;
        var getppid = ArgumentOf(recording, "getppid");
        Assert.True(getppid.Overflow);
        // one thread, in order: the first 16 values filled the array, the 4 after them only set the flag
        Assert.Equal(Enumerable.Range(0, ArgumentToRecord.MaxValues).Select(v => (ulong)v), getppid.Values);
        var personality = ArgumentOf(recording, "personality");
        Assert.False(personality.Overflow);
        Assert.Equal([0xffffffffUL], personality.Values);
    }

    [Fact]
    public void ArgumentsAreRecordedOnlyWhenAskedAndEndWithTheRecordingAcrossRebindsAndRestarts()
    {
        using var cgroup = TestCgroup.Create("args-life");
        var engine = _scope.Open();
        try
        {
            engine.Bind(cgroup.Id, LogPrctl("record-args-life"), EnforcementMode.Enforce);
            Assert.Throws<InvalidOperationException>(() => engine.RecordArguments(cgroup.Id, [new("personality", 0)])); // not recording
            engine.StartRecording(cgroup.Id);
            RunDriver(cgroup, "personality:0xffffffff");
            // a recording without --with-args reads its arguments never
            Assert.Empty(engine.ReadRecording(cgroup.Id)!.Arguments!);
            Assert.Equal(0, engine.MapEntryCounts()["record_args"]);

            Assert.Contains("unknown syscall", Assert.Throws<ArgumentException>(() => engine.RecordArguments(cgroup.Id, [new("no_such_call", 0)])).Message);
            Assert.Contains("outside 0..5", Assert.Throws<ArgumentException>(() => engine.RecordArguments(cgroup.Id, [new("clone", 6)])).Message);
            engine.RecordArguments(cgroup.Id, [new("personality", 0)]);
            engine.Rebind(cgroup.Id, Make("record-args-life-2", CompiledAction.Allow, Only(Getpid, Log())), EnforcementMode.Audit);
            RunDriver(cgroup, "personality:0xffffffff");
            Assert.Equal([0xffffffffUL], ArgumentOf(engine.ReadRecording(cgroup.Id)!, "personality").Values);

            // a restarted engine goes on with the pinned argument recording
            engine.Dispose();
            engine = _scope.Open();
            RunDriver(cgroup, "personality:0");
            Assert.Equal([0UL, 0xffffffff], ArgumentOf(engine.ReadRecording(cgroup.Id)!, "personality").Values);

            // asked again: from an empty set; an empty list stops only the arguments
            engine.RecordArguments(cgroup.Id, [new("personality", 0)]);
            Assert.Empty(ArgumentOf(engine.ReadRecording(cgroup.Id)!, "personality").Values);
            engine.RecordArguments(cgroup.Id, []);
            Assert.Empty(engine.ReadRecording(cgroup.Id)!.Arguments!);
            Assert.Equal(0, engine.MapEntryCounts()["record_args"]);

            engine.RecordArguments(cgroup.Id, [new("personality", 0)]);
            Assert.Equal(1, engine.MapEntryCounts()["record_args"]);
            engine.StopRecording(cgroup.Id);
            Assert.Equal(0, engine.MapEntryCounts()["record_args"]);
            Assert.Throws<InvalidOperationException>(() => engine.RecordArguments(cgroup.Id, [new("personality", 0)]));
        }
        finally
        {
            engine.Dispose();
        }
    }

    private static void RunDriver(TestCgroup cgroup, params string[] commands)
    {
        using var driver = SyscallDriver.Start(cgroup, commands);
        driver.Go();
        Assert.Equal(0, driver.WaitForExit());
    }
}
