using System.Text.Json;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>A recording written as a profile loads with this project's parser and means "exactly these, else EPERM".</summary>
public class RecordedProfileTests
{
    private static CompiledProfile Compile(string json)
    {
        var parsed = ProfileParser.Parse(json);
        Assert.Empty(parsed.Diagnostics);
        return ProfileCompiler.Compile(parsed.Profile!, new CompileContext(SyscallArch.X86_64, new HashSet<string>(), new KernelVersion(6, 1))).Profile;
    }

    private static CompiledAction Decide(CompiledProfile profile, SyscallArch arch, string name) =>
        ReferenceEvaluator.Evaluate(profile, SyscallTables.AuditArchOf(arch), SyscallTables.Resolve(arch, name)!.Value, new ulong[6]).Action;

    [Fact]
    public void TheRecordedSyscallsAreAllowedAndEverythingElseFailsWithEperm()
    {
        var recorded = new Dictionary<string, IReadOnlyList<string>> { ["SCMP_ARCH_X86_64"] = ["write", "exit_group", "read", "getppid"] };
        string json = RecordedProfileWriter.Write(recorded, "Recorded by seccomp-ebpf from container app (abc) of pod default/web");
        var profile = Compile(json);

        foreach (string name in new[] { "read", "write", "getppid", "exit_group" })
            Assert.Equal(CompiledAction.Allow, Decide(profile, SyscallArch.X86_64, name));
        foreach (string name in new[] { "mkdir", "getpid", "mount" })
            Assert.Equal(CompiledAction.Errno(1), Decide(profile, SyscallArch.X86_64, name));

        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("Recorded by seccomp-ebpf from container app (abc) of pod default/web", root.GetProperty("syscalls")[0].GetProperty("comment").GetString());
        Assert.Equal(["SCMP_ARCH_X86_64"], root.GetProperty("architectures").EnumerateArray().Select(a => a.GetString()));
        // sorted, so two recordings of the same run diff cleanly
        Assert.Equal(["exit_group", "getppid", "read", "write"], root.GetProperty("syscalls")[0].GetProperty("names").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public void EveryAbiThatRecordedSomethingIsCovered()
    {
        var recorded = new Dictionary<string, IReadOnlyList<string>>
        {
            ["SCMP_ARCH_X86"] = ["getppid", "exit_group"],
            ["SCMP_ARCH_X86_64"] = ["read"],
            ["SCMP_ARCH_X32"] = [],
        };
        string json = RecordedProfileWriter.Write(recorded, "two ABIs");
        var profile = Compile(json);
        Assert.Equal(CompiledAction.Allow, Decide(profile, SyscallArch.I386, "getppid"));
        Assert.Equal(CompiledAction.Allow, Decide(profile, SyscallArch.X86_64, "read"));
        Assert.Equal(CompiledAction.Errno(1), Decide(profile, SyscallArch.I386, "mkdir"));
        // x32 recorded nothing: not listed, native first
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], doc.RootElement.GetProperty("architectures").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public void AnEmptyRecordingDeniesEverything()
    {
        var profile = Compile(RecordedProfileWriter.Write(new Dictionary<string, IReadOnlyList<string>>(), "nothing"));
        Assert.Equal(CompiledAction.Errno(1), Decide(profile, SyscallArch.X86_64, "read"));
    }

    private static CompiledAction Decide(CompiledProfile profile, string name, ulong arg0) =>
        ReferenceEvaluator.Evaluate(profile, SyscallTables.AuditArchOf(SyscallArch.X86_64), SyscallTables.Resolve(SyscallArch.X86_64, name)!.Value, [arg0, 0, 0, 0, 0, 0]).Action;

    private static readonly Dictionary<string, IReadOnlyList<string>> WithPersonality = new() { ["SCMP_ARCH_X86_64"] = ["read", "personality", "exit_group", "clone"] };

    [Fact]
    public void ASyscallRecordedWithValuesIsAllowedWithThoseValuesOnly()
    {
        string json = RecordedProfileWriter.Write(WithPersonality, "recorded",
            [new RecordedArgument("personality", 0, [0xffffffff, 0, 0x40000, 0], Overflow: false)]);
        var profile = Compile(json);

        foreach (ulong value in new ulong[] { 0, 0x40000, 0xffffffff })
            Assert.Equal(CompiledAction.Allow, Decide(profile, "personality", value));
        Assert.Equal(CompiledAction.Errno(1), Decide(profile, "personality", 0x0400000)); // READ_IMPLIES_EXEC: never recorded
        Assert.Equal(CompiledAction.Allow, Decide(profile, "clone", 0x1234)); // recorded, but not its arguments: any value
        Assert.Equal(CompiledAction.Allow, Decide(profile, "read", 7));

        using var doc = JsonDocument.Parse(json);
        var rules = doc.RootElement.GetProperty("syscalls").EnumerateArray().ToList();
        // the unconditional rule no longer names personality; one rule per distinct value, ascending
        Assert.Equal(["clone", "exit_group", "read"], rules[0].GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Contains("personality (argument 0: 3)", rules[0].GetProperty("comment").GetString());
        Assert.Equal(4, rules.Count);
        Assert.Equal([0UL, 0x40000, 0xffffffff], rules.Skip(1).Select(r =>
        {
            Assert.Equal(["personality"], r.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
            Assert.Equal("SCMP_ACT_ALLOW", r.GetProperty("action").GetString());
            var arg = Assert.Single(r.GetProperty("args").EnumerateArray().ToList());
            Assert.Equal((0, "SCMP_CMP_EQ"), (arg.GetProperty("index").GetInt32(), arg.GetProperty("op").GetString()));
            return arg.GetProperty("value").GetUInt64();
        }));
    }

    [Fact]
    public void AnOverflowedOrEmptyValueSetFallsBackToTheUnconditionalAllowAndTheCommentSaysWhy()
    {
        string json = RecordedProfileWriter.Write(WithPersonality, "recorded",
        [
            new RecordedArgument("personality", 0, [1, 2, 3], Overflow: true),
            new RecordedArgument("clone", 0, [], Overflow: false),
            new RecordedArgument("mount", 0, [], Overflow: false), // asked for, never attempted: denied as before
        ]);
        var profile = Compile(json);
        Assert.Equal(CompiledAction.Allow, Decide(profile, "personality", 0x0400000));
        Assert.Equal(CompiledAction.Allow, Decide(profile, "clone", 0x1234));
        Assert.Equal(CompiledAction.Errno(1), Decide(profile, "mount", 0));

        using var doc = JsonDocument.Parse(json);
        var rule = Assert.Single(doc.RootElement.GetProperty("syscalls").EnumerateArray().ToList());
        Assert.Equal(["clone", "exit_group", "personality", "read"], rule.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        string comment = rule.GetProperty("comment").GetString()!;
        Assert.Contains("personality: argument 0 had more distinct values than the recorder holds", comment);
        Assert.Contains("clone: attempted, but not while its argument 0 was recorded", comment);
        Assert.DoesNotContain("mount", comment);
    }

    [Fact]
    public void EveryRecordedSyscallRestrictedPutsTheCommentOnTheFirstValueRule()
    {
        var recorded = new Dictionary<string, IReadOnlyList<string>> { ["SCMP_ARCH_X86_64"] = ["personality"] };
        string json = RecordedProfileWriter.Write(recorded, "recorded", [new RecordedArgument("personality", 0, [8], Overflow: false)]);
        var profile = Compile(json);
        Assert.Equal(CompiledAction.Allow, Decide(profile, "personality", 8));
        Assert.Equal(CompiledAction.Errno(1), Decide(profile, "personality", 9));
        using var doc = JsonDocument.Parse(json);
        var rule = Assert.Single(doc.RootElement.GetProperty("syscalls").EnumerateArray().ToList());
        Assert.StartsWith("recorded", rule.GetProperty("comment").GetString());
    }

    [Fact]
    public void TheSameRecordingWritesTheSameBytesWhateverTheOrderItCameIn()
    {
        var a = RecordedProfileWriter.Write(WithPersonality, "recorded",
            [new RecordedArgument("personality", 0, [3, 1, 2], false), new RecordedArgument("clone", 0, [0x11, 0x3d0f00], false)]);
        var reordered = new Dictionary<string, IReadOnlyList<string>> { ["SCMP_ARCH_X86_64"] = ["clone", "exit_group", "personality", "read"] };
        var b = RecordedProfileWriter.Write(reordered, "recorded",
            [new RecordedArgument("clone", 0, [0x3d0f00, 0x11, 0x11], false), new RecordedArgument("personality", 0, [2, 3, 1], false)]);
        Assert.Equal(a, b);
        // clone's rules come before personality's: by name, then by value
        using var doc = JsonDocument.Parse(a);
        Assert.Equal(["exit_group,read", "clone", "clone", "personality", "personality", "personality"],
            doc.RootElement.GetProperty("syscalls").EnumerateArray().Select(r => string.Join(",", r.GetProperty("names").EnumerateArray().Select(n => n.GetString()))));
    }
}
