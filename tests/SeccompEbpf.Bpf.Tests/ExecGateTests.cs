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
