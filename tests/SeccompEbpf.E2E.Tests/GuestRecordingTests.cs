using System.Text.Json;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// <see cref="RecordedProfileScenario"/> on a BPF-LSM kernel under the default configuration: the recorded profile's
/// ERRNO(EPERM) default stops the extra mkdirat at its LSM hook, so the probe sees EPERM and lives. Runs in the qemu tier
/// (tests/vm, suite e2e), which sets SECCOMP_EBPF_EXPECT_LSM=1; anywhere else it fails loudly rather than pass by skipping.
/// </summary>
[Trait("Category", "vm")]
public sealed class GuestRecordingTests(ITestOutputHelper output) : RecordedProfileScenario(output, TimeSpan.FromSeconds(120)) // TCG: ~25x slower
{
    protected override string? OnUnenforceable => null;

    public override async Task InitializeAsync()
    {
        GuestKernel.RequireBpfLsm("EPERM needs BPF LSM");
        await base.InitializeAsync();
    }

    protected override void AssertMkdiratCaught(string log, IReadOnlyList<JsonElement> events)
    {
        Assert.Contains("mkdir-tmp ret=-1 errno=1", log);
        var denial = Assert.Single(events);
        Assert.Equal("mkdirat", denial.GetProperty("syscall").GetString());
        Assert.Equal("Errno(1)", denial.GetProperty("action").GetString());
    }
}
