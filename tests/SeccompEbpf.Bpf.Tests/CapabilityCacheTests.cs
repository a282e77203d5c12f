using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// A restarted daemon reuses this boot's probe results instead of loading every probe program again, but only a record
/// that matches this boot, kernel and BPF object and that only root could have written.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CapabilityCacheTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sc-capcache-");
    private readonly byte[] _image = BpfObject.EmbeddedImage();

    private string RecordPath => Path.Combine(_directory.FullName, "kernel-capabilities.json");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void A_real_probe_is_recorded_and_the_next_engine_reuses_it_without_probing()
    {
        int probed = 0;
        var first = CapabilityCache.ProbeOrReuse(RecordPath, _image, NullLogger.Instance,
            () => { probed++; return CapabilityProber.Probe(_image, NullLogger.Instance); });
        Assert.Equal(1, probed);
        Assert.True(File.Exists(RecordPath));

        var second = CapabilityCache.ProbeOrReuse(RecordPath, _image, NullLogger.Instance,
            () => throw new InvalidOperationException("probed although this boot's record matches"));
        Assert.Equal(first.Probes, second.Probes);
        Assert.Equal(first.KernelRelease, second.KernelRelease);
        Assert.Equal(first.ActiveLsms, second.ActiveLsms);
        Assert.Equal(first.CanPreventSyscalls, second.CanPreventSyscalls);
    }

    [Theory]
    [InlineData("boot", "another boot")]
    [InlineData("image", "another BPF object")]
    [InlineData("kernel", "another kernel")]
    public void A_record_of_another_boot_image_or_kernel_is_probed_again_and_rewritten(string changed, string why)
    {
        var key = CapabilityCache.KeyFor(_image);
        var stale = changed switch
        {
            "boot" => key with { BootId = Guid.NewGuid().ToString() },
            "image" => key with { ImageHash = new string('0', 32) },
            _ => key with { KernelRelease = "1.0.0-other" },
        };
        CapabilityCache.Write(RecordPath, new CapabilityCache.Record(stale, [Claim(KernelMechanism.BpfLsm, available: true)]));

        var (cached, reason) = CapabilityCache.TryRead(RecordPath, key);
        Assert.Null(cached);
        Assert.Contains(why, reason);

        int probed = 0;
        var capabilities = CapabilityCache.ProbeOrReuse(RecordPath, _image, NullLogger.Instance, () => { probed++; return Fixed(); });
        Assert.Equal(1, probed);
        Assert.False(capabilities.Has(KernelMechanism.BpfLsm));
        Assert.NotNull(CapabilityCache.TryRead(RecordPath, key).Capabilities); // rewritten for this boot
    }

    [Fact]
    public void A_record_others_could_write_or_that_does_not_parse_is_not_believed()
    {
        var key = CapabilityCache.KeyFor(_image);
        CapabilityCache.Write(RecordPath, new CapabilityCache.Record(key, [.. Fixed().Probes]));
        Assert.NotNull(CapabilityCache.TryRead(RecordPath, key).Capabilities);

        File.SetUnixFileMode(RecordPath, File.GetUnixFileMode(RecordPath) | UnixFileMode.OtherWrite);
        var (cached, reason) = CapabilityCache.TryRead(RecordPath, key);
        Assert.Null(cached);
        Assert.Contains("writable by group or others", reason);

        File.WriteAllText(RecordPath, "{ not json");
        File.SetUnixFileMode(RecordPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (cached, reason) = CapabilityCache.TryRead(RecordPath, key);
        Assert.Null(cached);
        Assert.Contains("unreadable", reason);
    }

    [Fact]
    public void A_record_that_lacks_a_mechanism_is_probed_again_rather_than_read_as_unavailable()
    {
        // e.g. written before the fmod_ret fallback was probed: "not probed" would read as "no fallback" on a kernel
        // where it works, and ERRNO would be refused until the next reboot
        var key = CapabilityCache.KeyFor(_image);
        CapabilityCache.Write(RecordPath, new CapabilityCache.Record(key, [.. Fixed().Probes.Where(p => p.Mechanism != KernelMechanism.FmodRetSecurity)]));
        var (cached, reason) = CapabilityCache.TryRead(RecordPath, key);
        Assert.Null(cached);
        Assert.Equal("the record lacks FmodRetSecurity", reason);

        int probed = 0;
        var capabilities = CapabilityCache.ProbeOrReuse(RecordPath, _image, NullLogger.Instance, () => { probed++; return Fixed(); });
        Assert.Equal(1, probed);
        Assert.True(capabilities.PreventsThroughFmodRet);
        var reread = CapabilityCache.TryRead(RecordPath, key).Capabilities;
        Assert.NotNull(reread);
        Assert.True(reread.Has(KernelMechanism.FmodRetSecurity));
    }

    private static MechanismProbe Claim(KernelMechanism mechanism, bool available)
        => new(mechanism, available, available ? 0 : 1, available ? "claimed by the record" : "refused in the record");

    private static KernelCapabilities Fixed()
        => new("test", "test", Enum.GetValues<KernelMechanism>().Select(m => Claim(m, m != KernelMechanism.BpfLsm)).ToList());
}
