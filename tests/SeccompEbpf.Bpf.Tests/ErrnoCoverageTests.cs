using System.Diagnostics;
using System.Reflection;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compiled;
using Xunit.Abstractions;
using static SeccompEbpf.Bpf.Tests.Infrastructure.TestProfiles;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// Every syscall of <see cref="LsmHookTable"/> that exists on x86_64, denied with its own errno: where the probe says
/// BPF LSM works (or its fmod_ret fallback on the security_* functions, where bpf is not an active LSM), the call (set up to reach its hook by tests/native/errno-probe) returns -1 with exactly that errno
/// and its side effect does not happen; where it does not, the engine claims none of them (Bind refuses each).
/// A control run without any binding shows each call succeeds and takes effect, so the errno comes from the engine.
/// </summary>
public sealed class ErrnoCoverageTests(ITestOutputHelper output) : IDisposable
{
    private const int FirstErrno = 1000;
    private readonly EngineScope _scope = new("errnocov");

    public void Dispose() => _scope.Dispose();


    private sealed record Outcome(string Kind, long Ret, int Errno, int Effect, string Detail)
    {
        public override string ToString() => Kind switch
        {
            "result" => $"ret {Ret}, errno {Errno}, side effect {(Effect switch { 1 => "happened", 0 => "did not happen", _ => "not checkable" })}",
            _ => $"{Kind} {Detail}",
        };
    }

    /// <summary>The names of LsmHookTable (its private table: the test must follow every entry, including future ones).</summary>
    private static List<string> TableSyscalls()
    {
        var field = typeof(LsmHookTable).GetField("Entries", BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new InvalidOperationException("LsmHookTable.Entries not found: update ErrnoCoverageTests to the table's new shape");
        var entries = ((string Syscall, string[] Hooks)[])field.GetValue(null)!;
        return entries.Select(e => e.Syscall).ToList();
    }

    [Fact]
    public void EverySyscallClaimedErrnoEnforceableReturnsTheProfilesErrno()
    {
        var names = TableSyscalls();
        var cases = new List<(string Name, uint Nr, ushort Errno)>();
        var noX86Number = new List<string>();
        foreach (string name in names)
        {
            uint[] numbers = SyscallTable.NumbersOf(X86_64, name).Where(n => (n & SyscallTable.X32Bit) == 0).ToArray();
            if (numbers.Length == 0)
                noX86Number.Add(name);
            else
                cases.Add((name, Assert.Single(numbers), checked((ushort)(FirstErrno + cases.Count))));
        }
        int claimedCount = cases.Count;
        // the O_CREAT forms are the same syscalls (the report claims them too, only O_PATH is excepted): a denied
        // open must not leave a new file behind
        foreach (var open in cases.Where(c => c.Name is "open" or "openat" or "openat2").ToList())
            cases.Add(($"{open.Name}+O_CREAT", open.Nr, checked((ushort)(FirstErrno + cases.Count))));
        // kill(0, sig) targets the caller's whole process group, one task_kill per process: a verdict spent on the first
        // target would let the rest be signalled and the call succeed
        foreach (var kill in cases.Where(c => c.Name == "kill").ToList())
            cases.Add(("kill+pgrp", kill.Nr, checked((ushort)(FirstErrno + cases.Count))));
        Assert.True(cases.Max(c => c.Errno) <= 4094, "distinctive errnos must stay within the kernel's error range");
        // the enumeration covers exactly the numbers the planner treats as hooked
        Assert.Equal(LsmHookTable.CoveredNumbers(X86_64).Where(n => (n & SyscallTable.X32Bit) == 0).Order(), cases.Take(claimedCount).Select(c => c.Nr).Order());
        output.WriteLine($"not on x86_64 (no syscall number, not exercised): {string.Join(", ", noX86Number)}");

        string workdir = Path.Combine(Path.GetTempPath(), $"sc-errno-{Guid.NewGuid():N}"[..20]);
        Directory.CreateDirectory(workdir);
        try
        {
            using var engine = _scope.Open();
            var caps = engine.Capabilities;
            LsmExpectation.AssertProbeAgrees(caps);
            // a syscall newer than this kernel fails with ENOSYS before any hook: the engine claims none, nor does the test
            var absent = cases.Take(claimedCount).Where(c => caps.AbsentSyscalls.Contains(c.Name)).Select(c => c.Name).ToHashSet();
            claimedCount -= absent.Count;
            cases.RemoveAll(c => absent.Contains(c.Name.Split('+')[0]));

            // control: no binding, each call succeeds and takes effect
            var control = RunProbe(Path.Combine(workdir, "control"), cases.Select(c => c.Name));
            var failures = new List<string>();
            var notExercised = noX86Number.Select(n => $"{n} (no x86_64 number)").Concat(absent.Select(n => $"{n} (not in this kernel)")).ToList();
            foreach (var c in cases)
            {
                var o = control.GetValueOrDefault(c.Name);
                bool ok = o is { Kind: "result" } && o.Effect != 0
                    && (o.Ret != -1 || (c.Name == "bpf" && o.Errno == 2 /* ENOENT: no program after id 0 */));
                if (ok)
                    continue;
                if (c.Name == "pivot_root" && o is { Kind: "result", Ret: -1 })
                    notExercised.Add($"pivot_root (the control call fails here with errno {o.Errno}: this root cannot be pivoted)");
                else
                    failures.Add($"control {c.Name} without a binding: {o?.ToString() ?? "no outcome"}");
            }

            if (!caps.CanPreventSyscalls)
            {
                // nothing may be claimed: Refuse turns each ERRNO into a refusal naming the syscall
                using var cgroup = TestCgroup.Create("errnocov");
                foreach (var c in cases.Take(claimedCount))
                {
                    var profile = Make($"errno-coverage-{c.Name}-{c.Errno}", CompiledAction.Allow, Only(c.Nr, CompiledAction.Errno(c.Errno)));
                    try
                    {
                        var report = engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
                        engine.Unbind(cgroup.Id);
                        failures.Add($"{c.Name}: Bind with BPF LSM unavailable did not refuse ERRNO({c.Errno}): {string.Join("; ", report.Actions.Select(a => a.Explanation))}");
                    }
                    catch (EnforcementRefusedException refused)
                    {
                        if (!refused.Message.Contains($"Errno({c.Errno}) for {c.Name} (x86_64)", StringComparison.Ordinal))
                            failures.Add($"{c.Name}: the refusal does not name it: {refused.Message}");
                    }
                }
                Assert.Empty(engine.Bindings);
                Report($"errno coverage: 0 syscalls claimed (BPF LSM unavailable: {caps[KernelMechanism.BpfLsm].ErrnoName}; all {claimedCount} x86_64 table syscalls refused), 0 verified, {notExercised.Count} not exercised ({string.Join("; ", notExercised)})");
                Assert.True(failures.Count == 0, string.Join("\n", failures));
                return;
            }

            // enforcement: one cgroup and profile per syscall, all bound before the probe runs. The report names the
            // family that carries the verdicts: BPF LSM, or fmod_ret on the hooks' security_* functions where bpf is
            // not an active LSM
            string named = caps.PreventsThroughFmodRet ? "stopped at fmod_ret on security_" : "stopped at the BPF LSM hook ";
            using var parent = TestCgroup.Create("errnocov");
            var cgroups = new Dictionary<string, TestCgroup>();
            try
            {
                foreach (var c in cases)
                {
                    var cgroup = cgroups[c.Name] = parent.Child(c.Name.Replace('+', '-'));
                    var profile = Make($"errno-coverage-{c.Name}-{c.Errno}", CompiledAction.Allow, Only(c.Nr, CompiledAction.Errno(c.Errno)));
                    BindingReport report;
                    try
                    {
                        report = engine.Bind(cgroup.Id, profile, EnforcementMode.Enforce);
                    }
                    catch (EnforcementRefusedException refused)
                    {
                        failures.Add($"{c.Name}: in the LSM table but Bind refused ERRNO({c.Errno}): {refused.Message}");
                        continue;
                    }
                    if (!report.Actions.Any(a => a.Scope == $"{c.Name.Split('+')[0]} (x86_64)" && a.Mechanism == EnforcementMechanism.LsmHook
                            && a.Explanation.Contains(named, StringComparison.Ordinal)))
                        failures.Add($"{c.Name}: the report does not claim an LSM hook reached by {named}: {string.Join("; ", report.Actions.Select(a => $"{a.Mechanism}: {a.Explanation}"))}");
                }

                var denied = RunProbe(Path.Combine(workdir, "denied"),
                    cases.Where(c => engine.Bindings.Any(b => b.CgroupId == cgroups[c.Name].Id)).Select(c => $"{c.Name}={cgroups[c.Name].Path}"));
                var verified = new List<string>();
                foreach (var c in cases)
                {
                    if (!denied.TryGetValue(c.Name, out var o))
                        continue; // its Bind failed, already reported
                    if (notExercised.Any(n => n.StartsWith(c.Name + " ", StringComparison.Ordinal)))
                    {
                        output.WriteLine($"{c.Name} (not exercised) under ERRNO({c.Errno}): {o}");
                        continue;
                    }
                    if (o.Kind != "result")
                        failures.Add($"{c.Name} under ERRNO({c.Errno}): {o}");
                    else if (o.Ret != -1 || o.Errno != c.Errno || o.Effect == 1)
                        failures.Add($"{c.Name} under ERRNO({c.Errno}): {o}; expected ret -1, errno {c.Errno}, no side effect");
                    else
                        verified.Add(c.Name);
                }

                var verifiedSyscalls = verified.Where(v => !v.Contains('+', StringComparison.Ordinal)).ToList();
                Report($"errno coverage ({(caps.PreventsThroughFmodRet ? "fmod_ret on security_*" : "BPF LSM")}): {claimedCount} syscalls claimed, {verifiedSyscalls.Count} verified, {notExercised.Count} not exercised ({string.Join("; ", notExercised)})"
                    + $"; forms verified (O_CREAT opens, group kill): {string.Join(", ", verified.Except(verifiedSyscalls).DefaultIfEmpty("none"))}");
                WriteVmResults(verifiedSyscalls);
                foreach (var failure in failures)
                    Report("FAIL " + failure);
                Assert.True(failures.Count == 0, $"{failures.Count} failures among {claimedCount} claimed syscalls and their other forms:\n{string.Join("\n", failures)}");
            }
            finally
            {
                foreach (var cgroup in cgroups.Values)
                    if (engine.Bindings.Any(b => b.CgroupId == cgroup.Id))
                        engine.Unbind(cgroup.Id);
            }
        }
        finally
        {
            Directory.Delete(workdir, recursive: true);
        }
    }

    /// <summary>Console.Out of the test host reaches `dotnet test`'s console (ITestOutputHelper text only at detailed verbosity).</summary>
    private void Report(string line)
    {
        output.WriteLine(line);
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }

    /// <summary>
    /// The VM harness collects stdout lines starting with VMRESULT from the guest console; xunit keeps ITestOutputHelper
    /// text inside the test result, so these go to the test host's stdout directly.
    /// </summary>
    private static void WriteVmResults(IEnumerable<string> verified)
    {
        // not also to ITestOutputHelper: a failed test's output is printed too, and the harness would count each line twice
        foreach (string name in verified)
            Console.Out.WriteLine($"VMRESULT errno_syscall={name}");
        Console.Out.Flush();
    }

    private static Dictionary<string, Outcome> RunProbe(string workdir, IEnumerable<string> caseArgs)
    {
        Directory.CreateDirectory(workdir);
        var info = new ProcessStartInfo(SyscallDriver.BinaryPath("errno-probe"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(workdir);
        foreach (string arg in caseArgs)
            info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill();
            throw new TimeoutException("errno-probe did not finish within 120 s (deadlock guard)");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"errno-probe exited {process.ExitCode}: {stderr.Result}\n{stdout}");

        var outcomes = new Dictionary<string, Outcome>();
        foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ');
            outcomes[f[1]] = f[0] switch
            {
                "result" => new Outcome("result", long.Parse(f[2]), int.Parse(f[3]), int.Parse(f[4]), ""),
                _ => new Outcome(f[0], 0, 0, -1, string.Join(' ', f[2..])),
            };
        }
        return outcomes;
    }
}
