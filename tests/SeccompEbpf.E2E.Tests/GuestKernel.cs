namespace SeccompEbpf.E2E.Tests;

/// <summary>The precondition of the Category=vm tests: a kernel where BPF LSM runs, which only the qemu tier provides.</summary>
internal static class GuestKernel
{
    /// <summary>
    /// Fails loudly, rather than pass by skipping, unless the qemu kernel matrix (tests/vm/run-matrix.sh --suite e2e)
    /// says through SECCOMP_EBPF_EXPECT_LSM=1 that this kernel runs BPF LSM; <paramref name="need"/> says what needs it.
    /// </summary>
    public static void RequireBpfLsm(string need) =>
        Assert.True(Environment.GetEnvironmentVariable("SECCOMP_EBPF_EXPECT_LSM") == "1",
            $"{need}: this test runs in the qemu kernel matrix (tests/vm/run-matrix.sh --suite e2e), which sets SECCOMP_EBPF_EXPECT_LSM=1");
}
