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
}
