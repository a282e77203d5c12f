using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Benchmarks;

/// <summary>Docker's default profile (the built-in runtime/default): parse + compile, and one decision of the reference evaluator.</summary>
[MemoryDiagnoser]
public class ProfileBenchmarks
{
    private byte[] dockerDefault = [];
    private CompiledProfile compiled = null!;
    private (uint Nr, ulong[] Args)[] decisions = [];
    private int next;

    [GlobalSetup]
    public void Setup()
    {
        dockerDefault = System.Text.Encoding.UTF8.GetBytes(BuiltInProfiles.Json(BuiltInProfiles.RuntimeDefault));
        compiled = ProfileCompiler.Compile(ProfileParser.Parse(dockerDefault).Profile!, CompileContext.Default).Profile;
        string[] names = ["read", "write", "clone", "personality", "mount", "openat", "futex", "socket", "io_uring_setup", "epoll_wait"];
        decisions = names.Select(n => (SyscallTables.Resolve(SyscallArch.X86_64, n)!.Value, new ulong[] { 0x10000000, 1, 2, 3, 4, 5 })).ToArray();
    }

    [Benchmark(Description = "parse + compile docker default")]
    public CompiledProfile ParseAndCompile() =>
        ProfileCompiler.Compile(ProfileParser.Parse(dockerDefault).Profile!, CompileContext.Default).Profile;

    [Benchmark(Description = "parse docker default")]
    public object? Parse() => ProfileParser.Parse(dockerDefault).Profile;

    [Benchmark(Description = "evaluate one decision", OperationsPerInvoke = 1000)]
    public SeccompAction Evaluate()
    {
        SeccompAction last = default;
        for (int i = 0; i < 1000; i++)
        {
            var (nr, args) = decisions[next++ % decisions.Length];
            last = ReferenceEvaluator.Evaluate(compiled, SyscallTables.AuditArchX86_64, nr, args).Action.Kind;
        }
        return last;
    }
}

public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
