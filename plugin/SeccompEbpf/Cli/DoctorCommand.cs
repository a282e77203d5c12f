using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf doctor [--json]</c>: which eBPF mechanisms this kernel accepts (with its reasons) and what each seccomp action becomes.</summary>
internal static class DoctorCommand
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
    };

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool json = false;
        foreach (var arg in args)
        {
            if (arg == "--json")
                json = true;
            else
            {
                stderr.WriteLine($"seccomp-ebpf doctor: unexpected argument '{arg}'\nusage: seccomp-ebpf doctor [--json]");
                return 2;
            }
        }

        KernelCapabilities capabilities;
        try
        {
            capabilities = CapabilityProber.Probe(NullLoggerFactory.Instance);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"seccomp-ebpf doctor: probing failed: {e.Message} (run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)");
            return 1;
        }
        var consequences = EnforcementConsequences.For(capabilities);
        // which family of hook programs the daemon would load: BPF LSM, its fmod_ret fallback, or none
        string prevention = capabilities.Has(KernelMechanism.BpfLsm) ? "BPF LSM hooks"
            : capabilities.PreventsThroughFmodRet ? "fmod_ret on the LSM hooks' security_* functions (bpf is not an active LSM)"
            : "none (neither BPF LSM nor fmod_ret on security_* functions works here)";
        string cgroup2;
        try { cgroup2 = CgroupFs.Cgroup2Mount(); }
        catch (IOException e) { cgroup2 = $"missing: {e.Message}"; }

        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                kernel = capabilities.KernelRelease,
                activeLsms = capabilities.ActiveLsms,
                cgroup2,
                mechanisms = capabilities.Probes.Select(p => new { mechanism = p.Mechanism, p.Available, errno = p.Available ? null : p.ErrnoName, p.Detail }),
                prevention,
                actions = consequences,
                lsmEnforceableSyscalls = EnforcementConsequences.LsmEnforceableSyscalls,
            }, Json));
            return 0;
        }

        stdout.WriteLine($"kernel {capabilities.KernelRelease}; active LSMs: {capabilities.ActiveLsms}; cgroup2: {cgroup2}");
        stdout.WriteLine();
        stdout.WriteLine($"{"mechanism",-18} {"status",-11} detail");
        foreach (var probe in capabilities.Probes)
            stdout.WriteLine($"{probe.Mechanism,-18} {(probe.Available ? "available" : probe.ErrnoName),-11} {probe.Detail}");
        stdout.WriteLine();
        stdout.WriteLine($"prevention: {prevention}");
        stdout.WriteLine("what each seccomp action becomes here:");
        foreach (var c in consequences)
        {
            stdout.WriteLine($"  {c.Action,-12} {c.Enforcement}");
            if (c.WhenUnenforceable.Length > 0)
                stdout.WriteLine($"  {"",-12} otherwise: {c.WhenUnenforceable}");
        }
        return 0;
    }
}
