using CsCheck;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Profiles.Tests;

public class PropertyTests
{
    private static readonly string[] Names = ["read", "write", "getppid", "prctl", "personality", "lseek", "clone", "openat", "not_a_syscall", "socketcall"];
    private static readonly string[] ArchNames = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];

    private static readonly Gen<ulong> Value = Gen.OneOf(Gen.ULong, Gen.ULong[0, 600], Gen.OneOf(0UL, 1UL, 0xffffffffUL, 0x100000000UL, ulong.MaxValue));

    private static readonly Gen<(ProfileAction, ulong?)> Action =
        Gen.OneOf(
            Gen.Const(((ProfileAction, ulong?))(ProfileAction.Allow, null)),
            Gen.Const(((ProfileAction, ulong?))(ProfileAction.Log, null)),
            Gen.Const(((ProfileAction, ulong?))(ProfileAction.KillProcess, null)),
            Gen.Const(((ProfileAction, ulong?))(ProfileAction.Trap, null)),
            Gen.UShort[0, 4094].Select(e => ((ProfileAction, ulong?))(ProfileAction.Errno, e)),
            Gen.UShort[0, 4094].Select(e => ((ProfileAction, ulong?))(ProfileAction.Trace, e)));

    private static readonly Gen<ArgCondition> Arg =
        Gen.Select(Gen.UInt[0, 5], Gen.Int[1, 7], Value, Value, (i, op, v, v2) => new ArgCondition(i, v, op == 7 ? v2 : 0, (CompareOp)op));

    private static readonly Gen<SyscallRule> Rule =
        Gen.Select(Gen.OneOf(Names).Array[1, 3], Action, Arg.Array[0, 3], Gen.Bool,
            (names, action, args, comment) => new SyscallRule(names.Distinct().ToArray(), action.Item1, action.Item2, args,
                new RuleFilter([], [], null), new RuleFilter([], [], null), comment ? "generated" : null, 0, 0));

    internal static readonly Gen<SeccompProfile> Profile =
        Gen.Select(Action, Gen.OneOf(ArchNames).Array[0, 3], Rule.Array[0, 8],
            (action, arches, rules) => new SeccompProfile(action.Item1, action.Item2, arches.Distinct().ToArray(), [], [], null, null,
                rules.Select((r, i) => r with { Index = i }).ToArray()));

    [Fact]
    public void ParseSerializeParseIsStable()
    {
        Profile.Sample(profile =>
        {
            string first = ProfileSerializer.ToJson(profile);
            var reparsed = ProfileParser.Parse(first);
            Assert.False(reparsed.HasErrors, string.Join("\n", reparsed.Diagnostics.Select(d => d.Format("generated"))));
            Assert.Equal(first, ProfileSerializer.ToJson(reparsed.Profile!));
        }, iter: 300);
    }

    private static CompileResult? TryCompile(SeccompProfile profile)
    {
        try { return ProfileCompiler.Compile(profile, CompileContext.Default); }
        catch (ProfileException) { return null; }
    }

    [Fact]
    public void CompileIsDeterministic()
    {
        Profile.Sample(profile =>
        {
            var a = TryCompile(profile);
            var b = TryCompile(profile);
            Assert.Equal(a is null, b is null);
            if (a is null) return;
            Assert.Equal(a.Profile.Hash, b!.Profile.Hash);
            Assert.Equal(CompiledProfileEncoding.Encode(a.Profile), CompiledProfileEncoding.Encode(b.Profile));
            Assert.Equal(a.EncodedBytes, b.EncodedBytes);
        }, iter: 200);
    }

    [Fact]
    public void EqualProfilesHashEqualWhateverTheirSpelling()
    {
        Profile.Sample(profile =>
        {
            // The same profile written differently: reserialized, comments dropped, names in another order for unconditional rules.
            var respelled = ProfileParser.Parse(ProfileSerializer.ToJson(profile)).Profile! with
            {
                Syscalls = profile.Syscalls.Select(r => r with { Comment = null, Line = 99, Names = r.Args.Count == 0 ? r.Names.Reverse().ToArray() : r.Names }).ToArray(),
            };
            var a = TryCompile(profile);
            var b = TryCompile(respelled);
            Assert.Equal(a is null, b is null);
            if (a is not null) Assert.Equal(a.Profile.Hash, b!.Profile.Hash);
        }, iter: 200);
    }

    [Fact]
    public void DifferentDecisionsHashDifferently()
    {
        var allow = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ALLOW"}]}""");
        var log = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_LOG"}]}""");
        Assert.NotEqual(ProfileCompiler.Compile(allow, CompileContext.Default).Profile.Hash, ProfileCompiler.Compile(log, CompileContext.Default).Profile.Hash);
    }
}
