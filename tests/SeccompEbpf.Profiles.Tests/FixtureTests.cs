using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Tests;

public class FixtureTests
{
    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.GetFiles(TestPaths.ProfileFixtures, "*.json").Order()) data.Add(Path.GetFileName(file));
        return data;
    }

    [Fact]
    public void FixtureDirectoryHasTheExpectedProfiles()
    {
        var names = Directory.GetFiles(TestPaths.ProfileFixtures, "*.json").Select(Path.GetFileName).ToHashSet();
        Assert.Superset(new HashSet<string?> { "audit.json", "docker-default.json", "fine-grained.json", "seed-libseccomp-example.json", "violation.json" }, names);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void EveryFixtureParsesAndCompiles(string name)
    {
        var result = ProfileParser.ParseFile(TestPaths.Fixture(name));
        Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics.Select(d => d.Format(name))));
        var compiled = ProfileCompiler.Compile(result.Profile!, CompileContext.Default);
        Assert.Equal(64, compiled.Profile.Hash.Length);
        Assert.True(compiled.EncodedBytes > 0);
    }

    [Fact]
    public async Task ParseFileAsyncMatchesTheSynchronousParser()
    {
        string path = TestPaths.Fixture("docker-default.json");
        var asyncResult = await ProfileParser.ParseFileAsync(path);
        Assert.Equal(ProfileSerializer.ToJson(ProfileParser.ParseFile(path).Profile!), ProfileSerializer.ToJson(asyncResult.Profile!));
        var missing = await ProfileParser.ParseFileAsync("/nonexistent/profile.json");
        Assert.Contains("file not found", missing.Diagnostics.Single().Message);
    }

    private static Decision Seed(string syscall, params ulong[] args)
    {
        var profile = ProfileParser.ParseFile(TestPaths.Fixture("seed-libseccomp-example.json")).Profile!;
        return ReferenceEvaluator.Evaluate(profile, CompileContext.Default, SyscallArch.X86_64, syscall, args);
    }

    [Fact]
    public void SeedExampleGetpidFailsWithEbadf() =>
        Assert.Equal(CompiledAction.Errno(9), Seed("getpid").Action);

    [Fact]
    public void SeedExampleWriteToStdoutUpTo512BytesIsAllowed()
    {
        Assert.Equal(CompiledAction.Allow, Seed("write", 1, 0x1000, 512).Action);
        Assert.Equal(CompiledAction.Allow, Seed("write", 1, 0x1000, 0).Action);
    }

    [Fact]
    public void SeedExampleWriteToStderrFailsWithEbadf() =>
        Assert.Equal(CompiledAction.Errno(9), Seed("write", 2, 0x1000, 10).Action);

    [Fact]
    public void SeedExampleWriteOf513BytesKills()
    {
        Assert.Equal(SeccompAction.KillProcess, Seed("write", 1, 0x1000, 513).Action.Kind);
        Assert.Equal(SeccompAction.KillProcess, Seed("write", 1, 0x1000, 0x100000000).Action.Kind);
    }

    [Fact]
    public void SeedExampleAllowsExitGroupAndBrkAndKillsOthersBelowTheStub()
    {
        Assert.Equal(CompiledAction.Allow, Seed("exit_group").Action);
        Assert.Equal(CompiledAction.Allow, Seed("brk").Action);
        Assert.Equal(SeccompAction.KillProcess, Seed("read").Action.Kind);
        // runc's stub: syscalls above exit_group (231), the highest the profile names, answer ENOSYS.
        Assert.Equal(CompiledAction.Errno(38), Seed("openat").Action);
    }

    [Fact]
    public void DockerDefaultResolvesArchMapAndCapabilities()
    {
        var profile = ProfileParser.ParseFile(TestPaths.Fixture("docker-default.json")).Profile!;
        var noCaps = ProfileCompiler.Compile(profile, CompileContext.Default).Profile;
        var sysAdmin = ProfileCompiler.Compile(profile, CompileContext.Default with { BoundingCaps = new HashSet<string> { "CAP_SYS_ADMIN" } }).Profile;
        uint mount = SyscallTables.Resolve(SyscallArch.X86_64, "mount")!.Value;
        uint clone = SyscallTables.Resolve(SyscallArch.X86_64, "clone")!.Value;
        Assert.Equal(CompiledAction.Errno(1), ReferenceEvaluator.Evaluate(noCaps, SyscallTables.AuditArchX86_64, mount, []).Action);
        Assert.Equal(CompiledAction.Allow, ReferenceEvaluator.Evaluate(sysAdmin, SyscallTables.AuditArchX86_64, mount, []).Action);
        // clone with CLONE_NEWUSER (0x10000000) is denied without CAP_SYS_ADMIN, a plain fork-style clone is allowed.
        Assert.Equal(CompiledAction.Errno(1), ReferenceEvaluator.Evaluate(noCaps, SyscallTables.AuditArchX86_64, clone, [0x10000000]).Action);
        Assert.Equal(CompiledAction.Allow, ReferenceEvaluator.Evaluate(noCaps, SyscallTables.AuditArchX86_64, clone, [0x01200011]).Action);
        // archMap x86_64 -> x86, x32: i386 tasks are covered, aarch64 tasks are not.
        Assert.Contains(noCaps.Arches, a => a.AuditArch == SyscallTables.AuditArchI386);
        Assert.Equal(SeccompAction.KillThread, ReferenceEvaluator.Evaluate(noCaps, SyscallTables.AuditArchAarch64, 63, []).Action.Kind);
        // clone3 answers ENOSYS so glibc falls back to clone.
        uint clone3 = SyscallTables.Resolve(SyscallArch.X86_64, "clone3")!.Value;
        Assert.Equal(CompiledAction.Errno(38), ReferenceEvaluator.Evaluate(noCaps, SyscallTables.AuditArchX86_64, clone3, []).Action);
    }

    [Fact]
    public void PersonalityEqualityComparesAll64Bits()
    {
        var profile = ProfileParser.ParseFile(TestPaths.Fixture("docker-default.json")).Profile!;
        var compiled = ProfileCompiler.Compile(profile, CompileContext.Default).Profile;
        uint personality = SyscallTables.Resolve(SyscallArch.X86_64, "personality")!.Value;
        Assert.Equal(CompiledAction.Allow, ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, personality, [0xffffffff]).Action);
        Assert.Equal(CompiledAction.Errno(1), ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, personality, [0x1ffffffff]).Action);
    }
}
