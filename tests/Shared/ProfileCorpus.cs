using System.Diagnostics;
using System.Globalization;
using System.Text;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Tests.Shared;

/// <summary>One syscall of the differential corpus: a name (or "#N" for a raw number) and all six arguments.</summary>
internal sealed record OracleCase(string Syscall, ulong[] Args);

/// <summary>A generated profile and the syscalls to decide under it.</summary>
internal sealed record OracleProfile(SeccompProfile Profile, List<OracleCase> Cases);

/// <summary>
/// The generated differential corpus (profiles over syscalls that are safe with arbitrary arguments) and the runner of
/// tests/native/seccomp-oracle. Compiled into both SeccompEbpf.Profiles.Tests and SeccompEbpf.Bpf.Tests, so the
/// evaluator-vs-kernel and the BPF-vs-evaluator/kernel differentials run over the same cases.
/// </summary>
internal static class ProfileCorpus
{
    /// <summary>The seed of the suites' corpus (PROFILES_ORACLE_SEED overrides it).</summary>
    internal const int DefaultSeed = 20261130;
    internal const int DefaultProfiles = 320;
    internal const int DefaultCasesPerProfile = 8;

    private static readonly ushort[] Errnos = [3, 7, 42, 77, 123, 200, 1234, 4094];
    private static readonly string[] RuleSyscalls = ["getppid", "personality", "prctl", "lseek", "write"];
    private static readonly string[] CaseSyscalls = ["getppid", "personality", "prctl", "lseek", "write", "getpid", "gettid"];
    private static readonly ulong[] General =
    [
        0, 1, 2, 3, 5, 512, 513, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x100000001, 0x1ffffffff,
        0xffffffff00000000, 0x8000000000000000, ulong.MaxValue, ulong.MaxValue - 1, 0x5a5a5a5a, 9999,
    ];

    /// <summary>PROFILES_ORACLE_SEED when set (explores other corpora), else the default seed.</summary>
    internal static int SeedFromEnvironment()
        => int.TryParse(Environment.GetEnvironmentVariable("PROFILES_ORACLE_SEED"), out int s) ? s : DefaultSeed;

    // Argument values that are safe for the real syscall (the low 32 bits the kernel looks at are fixed) yet vary in all 64 bits.
    private static ulong SafeArg(Random rng, string syscall, int index)
    {
        ulong hi = new ulong[] { 0, 1, 0xffffffff, 0x80000000 }[rng.Next(4)] << 32;
        return (syscall, index) switch
        {
            ("personality", 0) => hi | 0xffffffff,
            ("prctl", 0) => hi | new ulong[] { 3, 0x7fffffff, 0x5a5a5a5a }[rng.Next(3)],
            ("lseek", 0) => hi | new ulong[] { 0, 3, 4, 9999, 0xffffffff }[rng.Next(5)],
            ("write", 0) => (rng.Next(2) == 0 ? 0UL : 1UL << 32) | new ulong[] { 1, 3, 9999 }[rng.Next(3)],
            ("write", 1) => new ulong[] { 0, 1, 0x100, ulong.MaxValue, 0x8000000000000000 }[rng.Next(5)],
            _ => General[rng.Next(General.Length)],
        };
    }

    private static ulong RuleValue(Random rng, int index)
    {
        string syscall = RuleSyscalls[rng.Next(RuleSyscalls.Length)];
        ulong v = rng.Next(3) == 0 ? General[rng.Next(General.Length)] : SafeArg(rng, syscall, index);
        return rng.Next(4) switch { 0 => v + 1, 1 => v - 1, _ => v };
    }

    private static (ProfileAction, ulong?) RandomAction(Random rng, bool forDefault)
    {
        int pick = rng.Next(forDefault ? 6 : 8);
        ulong errno = Errnos[rng.Next(Errnos.Length)];
        if (rng.Next(12) == 0) errno += 65536; // runc keeps the low 16 bits
        return pick switch
        {
            0 => (ProfileAction.Errno, errno),
            1 => (ProfileAction.KillProcess, null),
            2 => (ProfileAction.Allow, null),
            3 => (ProfileAction.Errno, rng.Next(3) == 0 ? null : errno),
            4 => (rng.Next(2) == 0 ? ProfileAction.Kill : ProfileAction.Trap, null),
            5 => (ProfileAction.Log, null),
            6 => (ProfileAction.Trace, rng.Next(2) == 0 ? null : errno),
            _ => (ProfileAction.KillThread, null),
        };
    }

    internal static List<OracleProfile> GenerateCorpus(int seed, int profiles, int casesPerProfile)
    {
        var rng = new Random(seed);
        var corpus = new List<OracleProfile>();
        string[][] archChoices = [[], ["SCMP_ARCH_X86_64"], ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], ["SCMP_ARCH_X32"], ["SCMP_ARCH_X86"]];
        for (int p = 0; p < profiles; p++)
        {
            var (defaultAction, defaultErrno) = RandomAction(rng, forDefault: true);
            var rules = new List<SyscallRule>();
            int ruleCount = 1 + rng.Next(6);
            // Concentrate on one or two syscalls so rules overlap.
            var focus = Enumerable.Range(0, 1 + rng.Next(2)).Select(_ => RuleSyscalls[rng.Next(RuleSyscalls.Length)]).ToArray();
            for (int r = 0; r < ruleCount; r++)
            {
                var (action, errno) = RandomAction(rng, forDefault: false);
                var names = rng.Next(5) == 0 ? new[] { RuleSyscalls[rng.Next(RuleSyscalls.Length)], focus[0] }.Distinct().ToArray() : [focus[rng.Next(focus.Length)]];
                var args = new List<ArgCondition>();
                int argCount = rng.Next(4) == 0 ? 0 : 1 + rng.Next(3);
                for (int a = 0; a < argCount; a++)
                {
                    uint index = (uint)(rng.Next(3) == 0 ? rng.Next(4) : rng.Next(2));
                    var op = (CompareOp)(1 + rng.Next(7));
                    ulong value = RuleValue(rng, (int)index);
                    ulong valueTwo = 0;
                    if (op == CompareOp.MaskedEqual)
                    {
                        value = new ulong[] { 0xffffffff, 0xffffffff00000000, 0xf, 0x8000000000000000, 0x7fffffff, 0x100000001, 0, ulong.MaxValue, value }[rng.Next(9)];
                        valueTwo = rng.Next(3) == 0 ? RuleValue(rng, (int)index) : RuleValue(rng, (int)index) & value;
                    }
                    args.Add(new ArgCondition(index, value, valueTwo, op));
                }
                rules.Add(new SyscallRule(names, action, errno, args, new RuleFilter([], [], null), new RuleFilter([], [], null), null, r, 0));
            }
            var profile = new SeccompProfile(defaultAction, defaultErrno, archChoices[rng.Next(archChoices.Length)], [], [], null, null, rules);
            var cases = new List<OracleCase>();
            for (int c = 0; c < casesPerProfile; c++)
            {
                string syscall = rng.Next(4) == 0 ? CaseSyscalls[rng.Next(CaseSyscalls.Length)] : focus[rng.Next(focus.Length)];
                var args = Enumerable.Range(0, 6).Select(i => SafeArg(rng, syscall, i)).ToArray();
                cases.Add(new OracleCase(syscall, args));
            }
            corpus.Add(new OracleProfile(profile, cases));
        }
        return corpus;
    }

    /// <summary>The line format tests/native/seccomp-oracle.c reads, produced from the parsed profile.</summary>
    internal static string ToOracleInput(SeccompProfile profile, IEnumerable<OracleCase> cases)
    {
        static string Errno(ulong? e) => e?.ToString(CultureInfo.InvariantCulture) ?? "-";
        var sb = new StringBuilder();
        sb.Append($"P {ProfileParser.ActionName(profile.DefaultAction)} {Errno(profile.DefaultErrnoRet)}\n");
        foreach (string arch in ProfileCompiler.RenderArchitectures(profile, SyscallArch.X86_64)) sb.Append($"A {arch}\n");
        foreach (var rule in ProfileCompiler.RenderRules(profile, CompileContext.Default))
        {
            sb.Append($"R {ProfileParser.ActionName(rule.Action)} {Errno(rule.ErrnoRet)} {rule.Names.Count} {string.Join(' ', rule.Names)} {rule.Args.Count}");
            foreach (var a in rule.Args) sb.Append(CultureInfo.InvariantCulture, $" {a.Index} {ProfileParser.OpName(a.Op)} {a.Value} {a.ValueTwo}");
            sb.Append('\n');
        }
        foreach (var c in cases) sb.Append($"C {c.Syscall} {string.Join(' ', c.Args)}\n");
        return sb.ToString();
    }

    /// <summary>Runs tests/native/seccomp-oracle over <paramref name="input"/>; one answer line per case.</summary>
    internal static string[] RunOracle(string binary, string input)
    {
        Assert.True(File.Exists(binary),
            $"the seccomp oracle is not built: run `make -C tests/native seccomp-oracle` (needs libseccomp-dev) to create {binary}");
        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(psi)!;
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        var stderrTask = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "seccomp-oracle did not finish");
        string stdout = stdoutTask.GetAwaiter().GetResult();
        Assert.True(process.ExitCode == 0, $"seccomp-oracle failed ({process.ExitCode}): {stderrTask.GetAwaiter().GetResult()}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
