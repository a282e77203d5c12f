using System.Text;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Cli;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>The BPF evaluator's 512 rule entries per syscall, checked without a kernel and reported by `profile validate`.</summary>
public sealed class BpfLimitsTests
{
    /// <summary>A profile whose personality(2) has <paramref name="rules"/> argument rules (one entry each).</summary>
    internal static string ManyRules(int rules)
    {
        var json = new StringBuilder("{\n\"defaultAction\": \"SCMP_ACT_ALLOW\",\n\"syscalls\": [\n");
        for (int i = 0; i < rules; i++)
            json.Append(i == 0 ? "" : ",\n").Append($"{{\"names\": [\"personality\"], \"action\": \"SCMP_ACT_LOG\", \"args\": [{{\"index\": 0, \"value\": {i + 1}, \"op\": \"SCMP_CMP_EQ\"}}]}}");
        return json.Append("\n]\n}\n").ToString();
    }

    private static CompileResult Compile(string json) => ProfileCompiler.Compile(ProfileParser.ParseOrThrow(json), CompileContext.Default);

    [Fact]
    public void TheBoundIsTheBpfSide()
    {
        Assert.Equal(512, BpfLimits.MaxRuleEntriesPerSyscall);
        Assert.Contains("#define SC_MAX_RULES_PER_SYSCALL 512", File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "bpf", "seccomp.h")));
    }

    [Fact]
    public void AProfileAtTheBoundFits() => Assert.Empty(BpfLimits.Check(Compile(ManyRules(512)).Profile));

    [Fact]
    public void SixHundredRulesForOneSyscallExceedIt()
    {
        var problem = Assert.Single(BpfLimits.Check(Compile(ManyRules(600)).Profile));
        Assert.StartsWith("personality (", problem.Message);
        Assert.Contains("600 argument rules needing 600 rule entries", problem.Message);
        Assert.Contains("at most 512 per syscall", problem.Message);
    }

    [Fact]
    public void ValidateAndExplainReportTheLimitBeforeAnyUse()
    {
        string file = Path.Combine(Path.GetTempPath(), $"rules-600-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, ManyRules(600));
        try
        {
            var stdout = new StringWriter();
            Assert.Equal(1, ProfileCommand.Run(["validate", file], stdout, new StringWriter()));
            // One line per architecture validate compiles for (x86_64 and aarch64 nodes), at the rule's line.
            var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("BPF limit", StringComparison.Ordinal)).ToList();
            Assert.Contains(lines, l => l.StartsWith($"{file}:4: $: BPF limit: personality (x86_64)", StringComparison.Ordinal));
            Assert.All(lines, l => Assert.Contains("at most 512 per syscall", l));

            var stderr = new StringWriter();
            Assert.Equal(0, ProfileCommand.Run(["explain", file, "--syscall", "personality", "--args", "1"], new StringWriter(), stderr));
            Assert.Contains("BPF limit", stderr.ToString());
            Assert.Contains("the daemon refuses this profile", stderr.ToString());

            File.WriteAllText(file, ManyRules(512));
            stdout = new StringWriter();
            Assert.Equal(0, ProfileCommand.Run(["validate", file], stdout, new StringWriter()));
            Assert.Contains($"{file}: ok", stdout.ToString());
        }
        finally { File.Delete(file); }
    }
}
