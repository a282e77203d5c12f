using System.Text.Json;
using SeccompEbpf.Cli;

namespace SeccompEbpf.E2E.Tests;

/// <summary><c>seccomp-ebpf profile plan</c>: on a recorded kernel (--assume, no root) and on this one (probed, root).</summary>
public sealed class PlanCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = ProfileCommand.Run(["plan", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string Profile(string name) => Path.Join(TestPaths.RepoRoot, "tests", "Shared", "profiles", name);

    [Fact]
    public void PrintsTheSummaryAndTheSyscallsPerClass()
    {
        var (code, output, error) = Run("runtime/default", "--assume", "no-lsm");
        Assert.True(code == 0, error);
        var lines = output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("x86_64   exact 298 · after-entry 0 · not prevented 87", StringComparison.Ordinal));
        var notPrevented = Assert.Single(lines, l => l.StartsWith("  not prevented (87): ", StringComparison.Ordinal));
        Assert.Contains(" unshare ", notPrevented);
        Assert.Contains(" clone3", notPrevented); // ERRNO(ENOSYS) rule: allowed and logged, and said so
    }

    [Fact]
    public void JsonHasTheCountsAndEveryAction()
    {
        var (code, output, error) = Run(Profile("fine-grained.json"), "--assume", "lsm", "--json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var summary = doc.RootElement.GetProperty("summary");
        Assert.Equal(("x86_64", 115, 0, 270), (summary.GetProperty("arch").GetString(), summary.GetProperty("exact").GetInt32(),
            summary.GetProperty("afterEntry").GetInt32(), summary.GetProperty("notPrevented").GetInt32()));
        var x86 = doc.RootElement.GetProperty("arches").EnumerateArray().Single(a => a.GetProperty("arch").GetString() == "x86_64");
        var mkdir = x86.GetProperty("syscalls").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "mkdir");
        Assert.Equal("Errno(1)", mkdir.GetProperty("actions")[0].GetProperty("action").GetString());
        Assert.Equal("defaultAction", mkdir.GetProperty("actions")[0].GetProperty("origin").GetString(), ignoreCase: true);
    }

    [Fact]
    public void TheFmodRetFallbackKernelPlansAsBpfLsmDoesAndSaysWhichMechanism()
    {
        // Debian 6.12 booted without bpf in lsm=: fmod_ret on the security_* functions stands in for BPF LSM
        var (code, output, error) = Run(Profile("fine-grained.json"), "--assume", "fmod-ret-security");
        Assert.True(code == 0, error);
        var (lsmCode, lsmOutput, lsmError) = Run(Profile("fine-grained.json"), "--assume", "lsm");
        Assert.True(lsmCode == 0, lsmError);
        string Summary(string text) => text.Split('\n').Single(l => l.StartsWith("x86_64   exact ", StringComparison.Ordinal));
        Assert.Equal(Summary(lsmOutput), Summary(output));
        Assert.Contains("BPF LSM unavailable (EPERM), fmod_ret on security_* available (used for the LSM hooks), fmod_ret unavailable (EINVAL)", output);
        Assert.DoesNotContain("fmod_ret on security_*", lsmOutput);
        var (badCode, _, badError) = Run("runtime/default", "--assume", "fmod-ret");
        Assert.NotEqual(0, badCode);
        Assert.Contains("no-lsm, lsm, lsm+error-injection or fmod-ret-security", badError);
    }

    [Fact]
    public void RefuseSaysTheContainerWouldBeVetoedAndExitsWithOne()
    {
        var (code, output, _) = Run(Profile("docker-default.json"), "--assume", "lsm", "--on-unenforceable", "refuse");
        Assert.Equal(1, code);
        Assert.Contains("the daemon would refuse this profile (onUnenforceable refuse)", output);
        Assert.Contains("Errno(1) for default action (x86_64)", output);
    }

    private static string Floor(string name) => Path.Join(TestPaths.RepoRoot, "tests", "Shared", "floors", name);

    [Fact]
    public void AFloorFromARealBundleMakesWhatItStopsExactAndSaysWhatIsLeft()
    {
        // containerd 1.7.24's RuntimeDefault still allows io_uring, which runtime/default denies
        var (code, output, error) = Run("runtime/default", "--floor", Floor("containerd-1.7.24-runtime-default.config.json"), "--assume", "no-lsm");
        Assert.True(code == 0, error);
        Assert.Contains("kernel seccomp floor ", output);
        Assert.Contains("sys_enter: needed", output);
        Assert.Contains("\n  not prevented (3): io_uring_setup io_uring_enter io_uring_register\n", output);
        Assert.Matches(@"x86_64   exact 382 \(kernel seccomp \d+\) · after-entry 0 · not prevented 3", output);

        var (dockerCode, docker, dockerError) = Run(Profile("docker-default.json"), "--floor", Floor("containerd-1.7.24-runtime-default.config.json"),
            "--assume", "no-lsm", "--on-unenforceable", "refuse", "--json");
        Assert.True(dockerCode == 1, $"exit {dockerCode} (1: the daemon would refuse it): {dockerError}");
        using var doc = JsonDocument.Parse(docker);
        // The fixture predates the syscalls containerd's RuntimeDefault allows beyond it: Docker's default denies
        // them where the floor lets them through, so they are BPF's, and refused on a kernel without LSM.
        Assert.True(doc.RootElement.GetProperty("needsSysEnter").GetBoolean());
        var summary = doc.RootElement.GetProperty("summary");
        Assert.Equal(["cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue"],
            summary.GetProperty("refusedSyscalls").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(0, summary.GetProperty("notPrevented").GetInt32());
        Assert.True(summary.GetProperty("kernelSeccomp").GetInt32() > 60);
    }

    [Fact]
    public void RuntimeDefaultUnderContainerd21sRuntimeDefaultNeedsNoSysEnter()
    {
        var (code, output, error) = Run("runtime/default", "--floor", Floor("containerd-2.1.9-runtime-default.config.json"), "--assume", "no-lsm", "--on-unenforceable", "refuse");
        Assert.True(code == 0, error);
        Assert.Contains("sys_enter: not needed", output);
        Assert.Contains("x86_64   exact 385 (kernel seccomp 87) · after-entry 0 · not prevented 0 · no sys_enter", output);
    }

    [Fact]
    public void AFloorThatAnswersWithAnotherErrnoIsListed()
    {
        var (code, output, error) = Run(Profile("fine-grained.json"), "--floor", "runtime/default", "--assume", "no-lsm");
        Assert.True(code == 0, error);
        Assert.Contains("kernel seccomp answers differently from the profile", output);
        Assert.Contains("    bpf: profile Errno(38), kernel seccomp Errno(1)", output);
    }

    [Fact]
    public void AnUnconfinedSpecOrAMissingFloorIsAnError()
    {
        string spec = Path.Join(Path.GetTempPath(), $"unconfined-{Guid.NewGuid():N}.json");
        File.WriteAllText(spec, """{"ociVersion":"1.1.0","linux":{"namespaces":[]}}""");
        try
        {
            var (code, _, error) = Run("runtime/default", "--floor", spec, "--assume", "no-lsm");
            Assert.Equal(1, code);
            Assert.Contains("has no linux.seccomp", error);
        }
        finally
        {
            File.Delete(spec);
        }
        Assert.Equal(1, Run("runtime/default", "--floor", "no-such-floor", "--assume", "no-lsm").Code);
    }

    [Fact]
    public void BadArgumentsAreUsageErrors()
    {
        Assert.Equal(2, Run("runtime/default", "--mode", "block").Code);
        Assert.Equal(2, Run("runtime/default", "--assume", "tomorrow").Code);
        Assert.Equal(2, Run("runtime/default", "--on-unenforceable", "shrug").Code);
        Assert.Equal(1, Run("../escape", "--assume", "lsm").Code);
    }

    [Fact]
    public void ProbesThisKernelAsRoot()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Contains("needs root", Run("runtime/default").Err);
            return;
        }
        var (code, output, error) = Run("runtime/default");
        Assert.True(code == 0, error);
        Assert.Contains($"kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}:", output);
        Assert.Matches(@"x86_64   exact \d+ · after-entry \d+ · not prevented \d+", output);
    }
}
