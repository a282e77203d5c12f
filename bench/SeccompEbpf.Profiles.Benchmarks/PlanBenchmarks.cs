using BenchmarkDotNet.Attributes;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Profiles.Benchmarks;

/// <summary>
/// What `profile plan` and every Bind pay to classify Docker's default on a kernel (issue target: under 5 ms): the
/// planner is pure, so recorded capability sets stand in for the kernels (no LSM as on the development host; BPF LSM as
/// on Debian's 6.1 and 6.12).
/// </summary>
[MemoryDiagnoser]
public class PlanBenchmarks
{
    private CompiledProfile dockerDefault = null!;
    private KernelCapabilities withoutLsm = null!;
    private KernelCapabilities withLsm = null!;

    [GlobalSetup]
    public void Setup()
    {
        byte[] json = System.Text.Encoding.UTF8.GetBytes(BuiltInProfiles.Json(BuiltInProfiles.RuntimeDefault));
        dockerDefault = ProfileCompiler.Compile(ProfileParser.Parse(json).Profile!, CompileContext.Default).Profile;
        withoutLsm = Kernel(lsm: false);
        withLsm = Kernel(lsm: true);
    }

    [Benchmark(Description = "plan docker default, no BPF LSM")]
    public ProfilePlan PlanWithoutLsm() => EnforcementPlans.Plan(withoutLsm, UnenforceablePolicy.LogUnpreventableDefault, dockerDefault, EnforcementMode.Enforce);

    [Benchmark(Description = "plan docker default, BPF LSM")]
    public ProfilePlan PlanWithLsm() => EnforcementPlans.Plan(withLsm, UnenforceablePolicy.LogUnpreventableDefault, dockerDefault, EnforcementMode.Enforce);

    private static KernelCapabilities Kernel(bool lsm) => new("bench", lsm ? "lockdown,capability,bpf" : "lockdown,capability",
        Enum.GetValues<KernelMechanism>().Select(m => m switch
        {
            KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup when !lsm => new MechanismProbe(m, false, 1, "refused (recorded)"),
            KernelMechanism.FmodRet or KernelMechanism.KprobeOverride => new MechanismProbe(m, false, 1, "refused (recorded)"),
            _ => new MechanismProbe(m, true, 0, "available (recorded)"),
        }).ToList());
}
