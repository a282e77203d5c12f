using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>
/// SECCOMP_EBPF_EXPECT_LSM=1|0, set per kernel by the qemu matrix: whether BPF LSM must work here. Unset (a developer
/// host), the tests follow the probe; set, a probe that disagrees fails the test instead of changing its branch.
/// </summary>
internal static class LsmExpectation
{
    public static bool? Expected => Environment.GetEnvironmentVariable("SECCOMP_EBPF_EXPECT_LSM") switch
    {
        "1" => true,
        "0" => false,
        null or "" => null,
        var other => throw new InvalidOperationException($"SECCOMP_EBPF_EXPECT_LSM must be 1 or 0, not '{other}'"),
    };

    public static void AssertProbeAgrees(KernelCapabilities caps)
    {
        if (Expected is { } expected)
            Assert.True(expected == caps.CanPreventSyscalls,
                $"SECCOMP_EBPF_EXPECT_LSM={(expected ? 1 : 0)} but the engine says BPF LSM is {(caps.CanPreventSyscalls ? "available" : "unavailable: " + caps[KernelMechanism.BpfLsm].Detail)}");
    }
}
