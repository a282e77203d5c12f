using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>
/// SECCOMP_EBPF_EXPECT_LSM=1|0 and SECCOMP_EBPF_EXPECT_FMOD_RET_SECURITY=1|0, set per kernel by the qemu matrix
/// (tests/vm/kernels.txt): whether BPF LSM must work here, and whether fmod_ret on security_* functions (the fallback
/// where bpf is not an active LSM) must. Unset (a developer host), the tests follow the probe; set, a probe that
/// disagrees fails the test instead of changing its branch.
/// </summary>
internal static class LsmExpectation
{
    public static bool? Expected => Read("SECCOMP_EBPF_EXPECT_LSM");

    public static bool? ExpectedFmodRetSecurity => Read("SECCOMP_EBPF_EXPECT_FMOD_RET_SECURITY");

    /// <summary>Whether some mechanism must prevent syscalls here; null when the environment does not say.</summary>
    public static bool? ExpectedPrevention => (Expected, ExpectedFmodRetSecurity) switch
    {
        (true, _) or (_, true) => true,
        (false, false) => false,
        _ => null,
    };

    private static bool? Read(string variable) => Environment.GetEnvironmentVariable(variable) switch
    {
        "1" => true,
        "0" => false,
        null or "" => null,
        var other => throw new InvalidOperationException($"{variable} must be 1 or 0, not '{other}'"),
    };

    public static void AssertProbeAgrees(KernelCapabilities caps)
    {
        if (Expected is { } expected)
            Assert.True(expected == caps.Has(KernelMechanism.BpfLsm),
                $"SECCOMP_EBPF_EXPECT_LSM={(expected ? 1 : 0)} but the engine says BPF LSM is {(caps.Has(KernelMechanism.BpfLsm) ? "available" : "unavailable: " + caps[KernelMechanism.BpfLsm].Detail)}");
        if (ExpectedFmodRetSecurity is { } fmodRet)
            Assert.True(fmodRet == caps.Has(KernelMechanism.FmodRetSecurity),
                $"SECCOMP_EBPF_EXPECT_FMOD_RET_SECURITY={(fmodRet ? 1 : 0)} but the engine says fmod_ret on security_* is {(caps.Has(KernelMechanism.FmodRetSecurity) ? "available" : "unavailable: " + caps[KernelMechanism.FmodRetSecurity].Detail)}");
        if (ExpectedPrevention is { } prevention)
            Assert.True(prevention == caps.CanPreventSyscalls,
                $"the kernel matrix expects prevention {(prevention ? "to work" : "to be missing")} here, but the engine says it can{(caps.CanPreventSyscalls ? "" : "not")} prevent syscalls");
    }
}
