using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Tests;

public class SemanticsTests
{
    private static CompiledAction Decide(string json, string syscall, params ulong[] args) =>
        ReferenceEvaluator.Evaluate(ProfileParser.ParseOrThrow(json), CompileContext.Default, SyscallArch.X86_64, syscall, args).Action;

    [Fact]
    public void UnconditionalRuleOverridesEarlierConditionalRule()
    {
        const string json = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":42}]}""";
        Assert.Equal(CompiledAction.Errno(42), Decide(json, "prctl", 2));
    }

    [Fact]
    public void FirstOfTwoUnconditionalRulesWins()
    {
        const string json = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":7}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":42}]}""";
        Assert.Equal(CompiledAction.Errno(7), Decide(json, "prctl"));
    }

    [Fact]
    public void NoPrecedenceInsideOneFilterHigherArgumentIsCheckedFirst()
    {
        // §1.5.1: ERRNO on a1 beats KILL_PROCESS on a0 for prctl(2, 0).
        const string json = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":77,"args":[{"index":1,"value":0,"op":"SCMP_CMP_EQ"}]}]}""";
        Assert.Equal(CompiledAction.Errno(77), Decide(json, "prctl", 2, 0));
        Assert.Equal(SeccompAction.KillProcess, Decide(json, "prctl", 2, 1).Kind);
    }

    [Fact]
    public void FirstDifferingCheckDecides()
    {
        // §1.5.2: a1 > 1 beats a0 == 2 && a1 == 3 for prctl(2, 3).
        const string json = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":3,"op":"SCMP_CMP_EQ"}]}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":42,"args":[{"index":1,"value":1,"op":"SCMP_CMP_GT"}]}]}""";
        Assert.Equal(CompiledAction.Errno(42), Decide(json, "prctl", 2, 3));
    }

    [Fact]
    public void IdenticalConditionsWithDifferentActionsAreRefusedWithEexist()
    {
        var profile = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}""");
        var ex = Assert.Throws<ProfileException>(() => ProfileCompiler.Compile(profile, CompileContext.Default));
        Assert.Contains("EEXIST", ex.Message);
        Assert.Contains("syscalls[1]", ex.Message);
    }

    [Fact]
    public void ExtendingAnEarlierRuleIsDroppedInOneOrderAndRefusedInTheOther()
    {
        const string shortFirst = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":3,"op":"SCMP_CMP_EQ"}]}]}""";
        Assert.Equal(CompiledAction.Errno(1), Decide(shortFirst, "prctl", 2, 3));
        const string longFirst = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":3,"op":"SCMP_CMP_EQ"}]}, {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}""";
        Assert.Throws<ProfileException>(() => ProfileCompiler.Compile(ProfileParser.ParseOrThrow(longFirst), CompileContext.Default));
    }

    [Fact]
    public void MaskedEqualReducesTheDatumByTheMask()
    {
        const string json = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["lseek"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{"index":0,"value":2,"valueTwo":2147483647,"op":"SCMP_CMP_MASKED_EQ"}]}]}""";
        Assert.Equal(CompiledAction.Errno(7), Decide(json, "lseek", 3));
        Assert.Equal(CompiledAction.Allow, Decide(json, "lseek", 1));
    }

    [Fact]
    public void ErrnoIsTruncatedToSixteenBitsAndLimitedTo4094()
    {
        Assert.Equal(CompiledAction.Errno(1234), Decide("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":66770}]}""", "getppid"));
        var result = ProfileParser.Parse("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":4095}""");
        Assert.True(result.HasErrors);
        Assert.Contains("4094", result.Diagnostics.Single(d => d.Severity == DiagnosticSeverity.Error).Message);
        Assert.Equal(CompiledAction.Errno(0), Decide("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":0}""", "getppid"));
    }

    [Fact]
    public void RuncEnosysStubAnswersForSyscallsAboveTheHighestNamed()
    {
        const string json = """{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}""";
        Assert.Equal(CompiledAction.Errno(38), Decide(json, "getppid"));
        Assert.Equal(CompiledAction.Errno(38), Decide(json, "gettid"));
        Assert.Equal(CompiledAction.Errno(1), Decide(json, "read"));
        // No stub for permissive defaults, nor without an architectures list.
        Assert.Equal(CompiledAction.Errno(1), Decide("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}""", "gettid"));
    }

    [Fact]
    public void RulesEqualToTheDefaultActionAreSkippedAsRuncDoes()
    {
        // The unconditional ERRNO(1) rule equals the default, so runc never adds it and the conditional ALLOW decides.
        const string json = """{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[ {"names":["write"],"action":"SCMP_ACT_ERRNO"}, {"names":["write"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}""";
        Assert.Equal(CompiledAction.Allow, Decide(json, "write", 1));
    }

    [Fact]
    public void RepeatedArgumentIndexSplitsTheRule()
    {
        const string json = """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[ {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":16,"op":"SCMP_CMP_EQ"}]}]}""";
        Assert.Equal(CompiledAction.Errno(7), Decide(json, "personality", 8));
        Assert.Equal(CompiledAction.Errno(7), Decide(json, "personality", 16));
        Assert.Equal(CompiledAction.Allow, Decide(json, "personality", 24));
    }

    [Fact]
    public void IncludesAndExcludesFollowCapsArchAndKernel()
    {
        const string json = """{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[ {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}, {"names":["reboot"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_BOOT"]}}, {"names":["getppid"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}}, {"names":["gettid"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"6.2"}}]}""";
        var profile = ProfileParser.ParseOrThrow(json);
        CompiledAction Run(string syscall, CompileContext ctx) => ReferenceEvaluator.Evaluate(profile, ctx, SyscallArch.X86_64, syscall, []).Action;
        var admin = CompileContext.Default with { BoundingCaps = new HashSet<string> { "CAP_SYS_ADMIN", "CAP_SYS_BOOT" } };
        Assert.Equal(CompiledAction.Errno(1), Run("mount", CompileContext.Default));
        Assert.Equal(CompiledAction.Allow, Run("mount", admin));
        Assert.Equal(CompiledAction.Allow, Run("reboot", CompileContext.Default));
        Assert.Equal(CompiledAction.Errno(1), Run("reboot", admin));
        Assert.Equal(CompiledAction.Errno(1), Run("getppid", CompileContext.Default));
        Assert.Equal(CompiledAction.Errno(1), Run("gettid", CompileContext.Default));
        Assert.Equal(CompiledAction.Allow, Run("gettid", CompileContext.Default with { Kernel = new KernelVersion(6, 2) }));
    }

    [Fact]
    public void ArchitecturesDecideCoverageAndX32IsKeyedByItsBit()
    {
        var profile = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":7}]}""");
        var compiled = ProfileCompiler.Compile(profile, CompileContext.Default).Profile;
        // Only the native ABI is covered; i386 tasks get the bad-arch action, x32 numbers too (libseccomp's x86_64-only filter).
        Assert.Equal(SeccompAction.KillThread, ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchI386, 64, []).Action.Kind);
        Assert.Equal(SeccompAction.KillThread, ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, SyscallTables.Resolve(SyscallArch.X32, "getppid")!.Value, []).Action.Kind);
        var withX32 = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":7}]}""");
        var all = ProfileCompiler.Compile(withX32, CompileContext.Default).Profile;
        Assert.Equal(CompiledAction.Errno(7), ReferenceEvaluator.Evaluate(all, SyscallTables.AuditArchI386, SyscallTables.Resolve(SyscallArch.I386, "getppid")!.Value, []).Action);
        Assert.Equal(CompiledAction.Errno(7), ReferenceEvaluator.Evaluate(all, SyscallTables.AuditArchX86_64, SyscallTables.Resolve(SyscallArch.X32, "getppid")!.Value, []).Action);
    }

    [Fact]
    public void MinusOneSkipsTheX32BadArchCheck()
    {
        var compiled = ProfileCompiler.Compile(ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":7,"architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ALLOW"}]}"""), CompileContext.Default).Profile;
        Assert.Equal(CompiledAction.Errno(7), ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, uint.MaxValue, []).Action);
        Assert.Equal(SeccompAction.KillThread, ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, 0x40000001, []).Action.Kind);
        Assert.Equal(CompiledAction.Errno(38), ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, 200, []).Action);
    }

    [Fact]
    public void StackedFiltersCombineByKernelPrecedence()
    {
        Assert.Equal(SeccompAction.KillProcess, ActionPrecedence.Combine(CompiledAction.Allow, new CompiledAction(SeccompAction.KillProcess)).Kind);
        Assert.Equal(CompiledAction.Errno(5), ActionPrecedence.Combine([CompiledAction.Errno(5), CompiledAction.Errno(9), new CompiledAction(SeccompAction.Log)]));
        Assert.Equal(SeccompAction.Trap, ActionPrecedence.Combine([new CompiledAction(SeccompAction.Trap), CompiledAction.Errno(1), new CompiledAction(SeccompAction.Notify)]).Kind);
    }

    [Fact]
    public void BuiltInsBehaveAsDocumented()
    {
        foreach (string name in BuiltInProfiles.Names) Assert.NotNull(BuiltInProfiles.Compile(name, CompileContext.Default).Profile.Hash);
        var runtimeDefault = BuiltInProfiles.Compile(BuiltInProfiles.RuntimeDefault, CompileContext.Default).Profile;
        uint ioUring = SyscallTables.Resolve(SyscallArch.X86_64, "io_uring_setup")!.Value;
        uint read = SyscallTables.Resolve(SyscallArch.X86_64, "read")!.Value;
        Assert.Equal(CompiledAction.Errno(1), ReferenceEvaluator.Evaluate(runtimeDefault, SyscallTables.AuditArchX86_64, ioUring, []).Action);
        Assert.Equal(CompiledAction.Allow, ReferenceEvaluator.Evaluate(runtimeDefault, SyscallTables.AuditArchX86_64, read, []).Action);

        var unconfined = BuiltInProfiles.Compile(BuiltInProfiles.Unconfined, CompileContext.Default).Profile;
        Assert.Equal(CompiledAction.Allow, ReferenceEvaluator.Evaluate(unconfined, SyscallTables.AuditArchAarch64, 1, []).Action);

        var audit = BuiltInProfiles.Compile(BuiltInProfiles.Audit, CompileContext.Default).Profile;
        Assert.Equal(SeccompAction.Log, ReferenceEvaluator.Evaluate(audit, SyscallTables.AuditArchI386, 5, []).Action.Kind);

        var strict = BuiltInProfiles.Compile(BuiltInProfiles.Strict, CompileContext.Default).Profile;
        foreach (string allowed in new[] { "read", "write", "exit", "exit_group", "rt_sigreturn" })
            Assert.Equal(CompiledAction.Allow, ReferenceEvaluator.Evaluate(strict, SyscallTables.AuditArchX86_64, SyscallTables.Resolve(SyscallArch.X86_64, allowed)!.Value, []).Action);
        foreach (string denied in new[] { "openat", "getpid", "set_mempolicy_home_node", "io_uring_setup" })
            Assert.Equal(SeccompAction.KillProcess, ReferenceEvaluator.Evaluate(strict, SyscallTables.AuditArchX86_64, SyscallTables.Resolve(SyscallArch.X86_64, denied)!.Value, []).Action.Kind);
    }

    [Theory]
    [InlineData("""{"defaultAction":"SCMP_ACT_NOPE"}""", 1, "$.defaultAction", "unknown action")]
    [InlineData("{\n\"defaultAction\":\"SCMP_ACT_ALLOW\",\n\"defaultErrnoRet\": 5}", 3, "$.defaultErrnoRet", "only allowed with SCMP_ACT_ERRNO")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[\n{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\n\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}", 3, "$.syscalls[0].args[0].index", "out of range")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_XX\"}]}]}", 1, "$.syscalls[0].args[0].op", "unknown operator")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"name\":\"read\",\"names\":[\"write\"],\"action\":\"SCMP_ACT_ALLOW\"}]}", 1, "$.syscalls[0].name", "both 'name' and 'names'")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\n\"syscalls\":[{\"names\":\"read\",\"action\":\"SCMP_ACT_ALLOW\"}]}", 2, "$.syscalls[0].names", "expected an array")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\n\n  \"syscalls\": [ }", 3, "$", "malformed JSON")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_KILL\",\"errnoRet\":1}]}", 1, "$.syscalls[0].errnoRet", "only allowed with SCMP_ACT_ERRNO")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\",\"errno\":\"ENOTREAL\"}]}", 1, "$.syscalls[0].errno", "unknown errno name")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\"}]}", 1, "$.archMap", "use one of them")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":-1,\"op\":\"SCMP_CMP_EQ\"}]}]}", 1, "$.syscalls[0].args[0].value", "must not be negative")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"listenerMetadata\":\"x\"}", 1, "$.listenerMetadata", "only allowed together with listenerPath")]
    [InlineData("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", 1, "$.defaultAction", "cannot be the default action")]
    public void ErrorsNameThePathTheLineAndTheProblem(string json, int line, string path, string message)
    {
        var result = ProfileParser.Parse(json);
        Assert.True(result.HasErrors);
        var error = result.Diagnostics.First(d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Line);
        Assert.Contains(message, error.Message);
        Assert.Matches(@"^f\.json:\d+: \$[^:]*: ", error.Format("f.json"));
    }

    [Fact]
    public void UnknownSyscallNamesAreSkippedWithAWarning()
    {
        var result = ProfileParser.Parse("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",\"frobnicate\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
        Assert.False(result.HasErrors);
        var warning = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal("$.syscalls[0].names[1]", warning.Path);
        Assert.NotNull(ProfileCompiler.Compile(result.Profile!, CompileContext.Default));
    }

    [Fact]
    public void ContainersCommonErrnoNamesAreAccepted()
    {
        var p = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrno":"ENOSYS","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errno":"EACCES"}]}""");
        Assert.Equal(38UL, p.DefaultErrnoRet);
        Assert.Equal(13UL, p.Syscalls[0].ErrnoRet);
    }
}
