using System.Diagnostics;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// The fail-closed exec gate in this host's kernel: a process in a container cgroup (below the configured parent) that
/// execs while no daemon vouches and whose cgroup was never admitted is recorded, and killed under deny-exec.
/// </summary>
public sealed class ExecGateTests : IDisposable
{
    private readonly EngineScope _scope = new("gate");
    private readonly TestCgroup _parent = TestCgroup.Create("gate");

    public void Dispose()
    {
        _parent.Dispose();
        _scope.Dispose();
    }

    // The shell moves itself into the cgroup, then execs: the exec is the gate's moment (a container's entrypoint).
    private static int ExecIn(TestCgroup cgroup, string program = "/bin/true")
    {
        using var process = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"echo $$ > '{cgroup.Path}/cgroup.procs' && exec {program}"]) { UseShellExecute = false })!;
        process.WaitForExit();
        return process.ExitCode;
    }

    [Fact]
    public void Deny_exec_kills_an_unadmitted_container_before_its_program_runs_and_records_it()
    {
        using var engine = _scope.Open();
        using var container = _parent.Child("unseen");
        engine.ConfigureExecGate(ExecGateMode.DenyExec, [_parent.Id]);

        Assert.Equal(128 + 9, ExecIn(container));

        var record = Assert.Single(engine.DrainExecGateRecords(), r => r.CgroupId == container.Id);
        Assert.Equal(1UL, record.Execs);
        Assert.Equal(1UL, record.Denied);
        Assert.Equal("true", record.LastComm);
        Assert.Empty(engine.DrainExecGateRecords()); // drained
    }

    [Fact]
    public void Admitted_cgroups_the_parent_itself_and_other_cgroups_are_never_gated()
    {
        using var engine = _scope.Open();
        using var admitted = _parent.Child("admitted");
        using var other = TestCgroup.Create("not-a-container");
        engine.ConfigureExecGate(ExecGateMode.DenyExec, [_parent.Id]);
        engine.AdmitToExecGate(admitted.Id);

        Assert.Equal(0, ExecIn(admitted));
        Assert.Equal(0, ExecIn(_parent));
        Assert.Equal(0, ExecIn(other));
        Assert.Empty(engine.DrainExecGateRecords());

        engine.ForgetInExecGate(admitted.Id);
        Assert.Equal(128 + 9, ExecIn(admitted));
    }

    [Fact]
    public void A_vouching_daemon_opens_the_gate_until_its_vouch_runs_out()
    {
        using var engine = _scope.Open();
        using var container = _parent.Child("vouched");
        engine.ConfigureExecGate(ExecGateMode.DenyExec, [_parent.Id]);

        engine.VouchExecGate(TimeSpan.FromSeconds(30));
        Assert.Equal(0, ExecIn(container));
        engine.VouchExecGate(TimeSpan.FromMilliseconds(200));
        Thread.Sleep(400);
        Assert.Equal(128 + 9, ExecIn(container));
        engine.VouchExecGate(TimeSpan.Zero);
        Assert.Equal(128 + 9, ExecIn(container));
    }

    [Fact]
    public void Log_mode_lets_the_exec_run_and_counts_it()
    {
        using var engine = _scope.Open();
        using var container = _parent.Child("logged");
        engine.ConfigureExecGate(ExecGateMode.Log, [_parent.Id]);

        Assert.Equal(0, ExecIn(container));
        Assert.Equal(0, ExecIn(container));

        var record = Assert.Single(engine.DrainExecGateRecords(), r => r.CgroupId == container.Id);
        Assert.Equal(2UL, record.Execs);
        Assert.Equal(0UL, record.Denied);
    }

    // getppid killed, everything else allowed: whether the gate's binding is in force shows in the exit status.
    private static readonly Profiles.Compiled.CompiledProfile Fallback =
        TestProfiles.Make("gate-fallback", Profiles.Compiled.CompiledAction.Allow, TestProfiles.Only(TestProfiles.Getppid, TestProfiles.Kill));

    private static string GetppidOnce => $"{SyscallDriver.BinaryPath("container-probe")} getppid 0 1";

    [Fact]
    public void Profile_mode_binds_an_unadmitted_container_to_the_fallback_before_its_program_runs()
    {
        using var engine = _scope.Open();
        using var container = _parent.Child("fallback");
        using var admitted = _parent.Child("admitted");
        var report = engine.ConfigureExecGate(ExecGateMode.Profile, [_parent.Id], Fallback);
        Assert.NotNull(report);
        engine.AdmitToExecGate(admitted.Id);

        // The probe's one getppid is its first syscall after the exec's own: the binding was in force before the image ran.
        Assert.Equal(128 + 9, ExecIn(container, GetppidOnce));
        Assert.Equal(0, ExecIn(admitted, GetppidOnce));
        Assert.Equal(0, ExecIn(_parent, GetppidOnce));

        var binding = Assert.Single(engine.Bindings);
        Assert.Equal(container.Id, binding.CgroupId);
        Assert.True(binding.FromGate);
        Assert.Equal(Fallback.Hash, binding.ProfileHash);
        var record = Assert.Single(engine.DrainExecGateRecords(), r => r.CgroupId == container.Id);
        Assert.True(record.BoundToFallback);
        Assert.Equal(0UL, record.Denied);

        // The daemon's own policy replaces the gate's binding; unbinding it leaves nothing behind.
        engine.Bind(container.Id, TestProfiles.Make("own", Profiles.Compiled.CompiledAction.Allow), EnforcementMode.Enforce);
        Assert.Equal(0, ExecIn(container, GetppidOnce));
        engine.Unbind(container.Id);
        Assert.Empty(engine.Bindings);
    }

    [Fact]
    public void Disarming_the_fallback_with_nothing_bound_detaches_the_programs_and_drops_pending_verdicts()
    {
        using var engine = _scope.Open();
        engine.ConfigureExecGate(ExecGateMode.Profile, [_parent.Id], Fallback);
        string links = Path.Combine(_scope.PinRoot, "links");
        Assert.NotEmpty(Directory.EnumerateFiles(links));
        // A verdict sys_enter left for a hook that never ran (the task's syscall failed before it). Left behind, it would
        // meet the same syscall number of the same task once the programs attach again.
        string pending = Path.Combine(_scope.PinRoot, "maps", "pending");
        ulong staleTask = ((ulong)Environment.ProcessId << 32) | (uint)Environment.ProcessId;
        RunBpftool(["map", "update", "pinned", pending, "key", .. Bytes(BitConverter.GetBytes(staleTask)), "value", .. Bytes([.. BitConverter.GetBytes(39u), .. BitConverter.GetBytes(1)])]);
        Assert.Equal(1, engine.MapEntryCountsNow()["pending"]);

        engine.ConfigureExecGate(ExecGateMode.DenyExec, [_parent.Id], null);

        Assert.Equal(0, engine.MapEntryCountsNow()["pending"]);
        Assert.Empty(Directory.EnumerateFiles(links));
    }

    private static IEnumerable<string> Bytes(byte[] bytes) => bytes.Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static void RunBpftool(string[] args)
    {
        using var bpftool = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bpftool", args) { RedirectStandardError = true })!;
        string error = bpftool.StandardError.ReadToEnd();
        bpftool.WaitForExit();
        Assert.True(bpftool.ExitCode == 0, $"bpftool {string.Join(' ', args)}: {error}");
    }

    [Fact]
    public void A_gate_binding_outlives_the_engine_and_the_next_one_adopts_it_then_unbinds_it_when_asked()
    {
        using var container = _parent.Child("adopted-fallback");
        using (var engine = _scope.Open())
            engine.ConfigureExecGate(ExecGateMode.Profile, [_parent.Id], Fallback);

        // No engine: the pinned gate binds, the pinned sys_enter program (kept attached for it) kills.
        Assert.Equal(128 + 9, ExecIn(container, GetppidOnce));
        Assert.Equal(128 + 9, ExecIn(container, GetppidOnce));

        using var next = _scope.Open();
        var binding = Assert.Single(next.Bindings);
        Assert.True(binding.FromGate);
        Assert.True(binding.Adopted);
        next.ConfigureExecGate(ExecGateMode.Off, [_parent.Id]);
        Assert.Equal(128 + 9, ExecIn(container, GetppidOnce)); // disarming the gate does not unbind what it bound
        next.Unbind(container.Id);
        Assert.Equal(0, ExecIn(container, GetppidOnce));
        Assert.False(next.SysEnterAttached);
    }

    [Fact]
    public void A_gate_binding_made_while_an_engine_runs_is_unbound_even_before_the_engine_has_looked()
    {
        using var engine = _scope.Open();
        using var container = _parent.Child("unseen-binding");
        engine.ConfigureExecGate(ExecGateMode.Profile, [_parent.Id], Fallback);
        Assert.Equal(128 + 9, ExecIn(container, GetppidOnce));

        // As a daemon does after a Synchronize: admit (else the next exec is bound again), then put it under its own policy.
        engine.AdmitToExecGate(container.Id);
        engine.Unbind(container.Id); // never listed by Bindings before
        Assert.Equal(0, ExecIn(container, GetppidOnce));
    }

    [Fact]
    public void Profile_mode_needs_a_fallback_and_other_modes_take_none()
    {
        using var engine = _scope.Open();
        Assert.Throws<ArgumentException>(() => engine.ConfigureExecGate(ExecGateMode.Profile, [_parent.Id]));
        Assert.Throws<ArgumentException>(() => engine.ConfigureExecGate(ExecGateMode.Log, [_parent.Id], Fallback));
    }

    [Fact]
    public void The_gate_outlives_the_engine_that_configured_it()
    {
        using var container = _parent.Child("afterlife");
        using (var engine = _scope.Open())
            engine.ConfigureExecGate(ExecGateMode.DenyExec, [_parent.Id]);

        // No engine now: the pinned program and maps alone.
        Assert.Equal(128 + 9, ExecIn(container));

        using var next = _scope.Open();
        Assert.Contains(next.DrainExecGateRecords(), r => r.CgroupId == container.Id && r.Denied == 1);
        next.ConfigureExecGate(ExecGateMode.Off, [_parent.Id]);
        Assert.Equal(0, ExecIn(container));
    }
}
