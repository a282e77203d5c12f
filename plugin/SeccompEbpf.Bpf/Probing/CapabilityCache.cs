using System.IO.Hashing;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>
/// The probe results of this boot, kept in a root-owned file so that a restarted daemon (an upgrade, a crash) does not
/// load every probe program again: what a kernel accepts does not change until it reboots. A record is used only for
/// the same boot, kernel release, active LSMs and BPF object as now; anything else is probed afresh and rewritten.
/// </summary>
internal static partial class CapabilityCache
{
    // 2: FmodRetSecurity probed (a version-1 record lacks it and is probed afresh). 3: the image's XxHash128, not SHA-256.
    private const int FormatVersion = 3;

    /// <summary>The cached capabilities when the record at PATH matches this boot and image, else a fresh probe (then saved).</summary>
    internal static KernelCapabilities ProbeOrReuse(string path, byte[] image, ILogger logger, Func<KernelCapabilities> probe)
    {
        var key = KeyFor(image);
        var (cached, why) = TryRead(path, key);
        // the hook check reads the kernel's BTF, not the record: the table may have grown since it was written
        if (cached is not null)
            cached = CapabilityProber.WithHookCheck(cached, logger);
        if (cached is not null)
        {
            LogReused(logger, path, key.BootId);
            return cached;
        }
        LogProbing(logger, path, why ?? "no record");
        var capabilities = probe();
        try
        {
            Write(path, new Record(key, capabilities.Probes.ToList()));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotSaved(logger, path, e.Message);
        }
        return capabilities;
    }

    internal sealed record Key(int Format, string BootId, string KernelRelease, string ActiveLsms, string ImageHash);

    internal sealed record Record(Key Key, List<MechanismProbe> Probes);

    internal static Key KeyFor(byte[] image) => new(
        FormatVersion,
        CapabilityProber.ReadText("/proc/sys/kernel/random/boot_id"),
        CapabilityProber.ReadText("/proc/sys/kernel/osrelease"),
        CapabilityProber.ActiveLsms(),
        // which BPF object probed, not a secret: a non-cryptographic hash spares the start-up OpenSSL's load (~40 ms here)
        Convert.ToHexStringLower(XxHash128.Hash(image)));

    /// <summary>The cached capabilities, or null and why the record is not used.</summary>
    internal static (KernelCapabilities? Capabilities, string? Why) TryRead(string path, Key key)
    {
        if (!File.Exists(path))
            return (null, "no record of this boot yet");
        // only a record that root alone could have written is believed: a forged one could claim the LSM is missing
        var status = new FileInfo(path);
        if (!OperatingSystem.IsLinux() || (status.UnixFileMode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            return (null, "the record is writable by group or others");
        if (FileOwner(path) != 0 || FileOwner(Path.GetDirectoryName(path)!) != 0)
            return (null, "the record or its directory is not owned by root");
        Record? record;
        try
        {
            record = JsonSerializer.Deserialize(File.ReadAllBytes(path), CacheJson.Default.Record);
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            return (null, $"the record is unreadable ({e.Message})");
        }
        if (record?.Key is null || record.Probes is null)
            return (null, "the record is empty");
        if (record.Key != key)
            return (null, record.Key.BootId != key.BootId ? "the record is from another boot"
                : record.Key.ImageHash != key.ImageHash ? "the record is from another BPF object (another daemon version)"
                : "the record is from another kernel, LSM list or record format");
        // a mechanism the record lacks would read as "not probed", i.e. unavailable (a fallback never used): probe again
        var absent = Enum.GetValues<KernelMechanism>().Where(m => record.Probes.All(p => p.Mechanism != m)).ToList();
        if (absent.Count > 0)
            return (null, $"the record lacks {string.Join(", ", absent)}");
        // the hook check reads the kernel's BTF, not the cache: the table may have grown since the record was written
        return (new KernelCapabilities(key.KernelRelease, key.ActiveLsms, record.Probes), null);
    }

    internal static void Write(string path, Record record)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("the capability record is written with Unix permissions");
        string directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        using (var file = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        }))
        {
            JsonSerializer.Serialize(file, record, CacheJson.Default.Record);
        }
        File.Move(temporary, path, overwrite: true); // readers see the old record or the new one, never half of one
    }

    private static long FileOwner(string path) => Interop.Interop.LibC.OwnerOf(path);

    [JsonSerializable(typeof(Record))]
    [JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    private sealed partial class CacheJson : JsonSerializerContext;

    [LoggerMessage(Level = LogLevel.Information, Message = "kernel capabilities: probed earlier in this boot (boot {BootId}), reusing {Path}")]
    private static partial void LogReused(ILogger logger, string path, string bootId);

    [LoggerMessage(Level = LogLevel.Information, Message = "kernel capabilities: probing ({Why}; record {Path})")]
    private static partial void LogProbing(ILogger logger, string path, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "kernel capabilities: could not save the probe record {Path}: {Error}; the next start probes again")]
    private static partial void LogNotSaved(ILogger logger, string path, string error);
}
