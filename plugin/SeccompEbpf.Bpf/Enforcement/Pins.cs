using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>Pinned maps under &lt;PinRoot&gt;/maps: reused at load when present, pinned after load when new.</summary>
internal static unsafe class Pins
{
    /// <summary>The maps that carry enforcement state across engines (not the probe and global-data maps).</summary>
    internal static readonly string[] PinnedMaps = ["bindings", "slots", "arch_policy", "syscall_policy", "rules", "allow_bitmaps", "binding_generation", "settings", "log_rate", "pending", "counters", "events",
        "gate_config", "gate_admitted", "gate_records", "gate_fallback", "recordings", "record_args", "shadows"];

    internal static HashSet<string> ReusePinnedMaps(BpfObject obj, string pinRoot, ILogger logger)
    {
        var reused = new HashSet<string>();
        foreach (var name in PinnedMaps)
        {
            string path = Path.Combine(pinRoot, "maps", name);
            if (!File.Exists(path))
                continue;
            int fd = Interop.Interop.Libbpf.ObjGet(path);
            if (fd < 0)
                throw new BpfException($"bpf_obj_get({path})", Errors.LastErrno(fd));
            using var handle = new SafeBpfFdHandle(fd);
            CheckCompatible(obj, name, fd, path);
            obj.ReuseMap(name, fd); // libbpf keeps its own duplicate
            reused.Add(name);
        }
        if (reused.Count > 0 && reused.Count < PinnedMaps.Length)
            logger.LogWarning("pinned state under {PinRoot} is partial ({Count} of {Total} maps); missing maps are created", pinRoot, reused.Count, PinnedMaps.Length);
        return reused;
    }

    internal static void PinNewMaps(BpfObject obj, string pinRoot, HashSet<string> reused)
    {
        foreach (var name in PinnedMaps)
        {
            if (reused.Contains(name))
                continue;
            string path = Path.Combine(pinRoot, "maps", name);
            Errors.CheckErrno(Interop.Interop.Libbpf.ObjPin(obj.Map(name).Fd, path), $"bpf_obj_pin({name}, {path})");
        }
    }

    /// <summary>A pinned map from another build must have the layout this build expects, or its contents would be misread.</summary>
    private static void CheckCompatible(BpfObject obj, string name, int fd, string path)
    {
        // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, ...
        uint* info = stackalloc uint[32];
        new Span<uint>(info, 32).Clear();
        uint length = 32 * sizeof(uint);
        Errors.CheckErrno(Interop.Interop.Libbpf.ObjGetInfoByFd(fd, info, &length), $"bpf_obj_get_info_by_fd({path})");
        var expected = obj.Describe(name);
        if (info[0] != expected.Type || info[2] != expected.KeySize || info[3] != expected.ValueSize)
            throw new InvalidOperationException(
                $"pinned map {path} (type {info[0]}, key {info[2]} B, value {info[3]} B) does not match this build's {name} "
                + $"(type {expected.Type}, key {expected.KeySize} B, value {expected.ValueSize} B); remove the pinned state (an engine with DetachOnExit) first");
    }

    internal static void RemoveAll(string pinRoot, ILogger logger)
    {
        foreach (var sub in new[] { "links", "gate", "maps" })
        {
            string dir = Path.Combine(pinRoot, sub);
            if (!Directory.Exists(dir))
                continue;
            foreach (var file in Directory.EnumerateFiles(dir))
                File.Delete(file);
            Directory.Delete(dir);
        }
        if (Directory.Exists(pinRoot) && !Directory.EnumerateFileSystemEntries(pinRoot).Any())
            Directory.Delete(pinRoot);
        logger.LogInformation("removed all pinned state under {PinRoot}", pinRoot);
    }
}

/// <summary>Makes sure the pin root lies on a bpf file system, mounting one at /sys/fs/bpf when none is.</summary>
internal static class BpfFs
{
    internal const string DefaultMount = "/sys/fs/bpf";

    internal static void EnsureMounted(string pinRoot)
    {
        string full = Path.GetFullPath(pinRoot);
        if (BpfMounts().Any(m => full == m || full.StartsWith(m.TrimEnd('/') + "/", StringComparison.Ordinal)))
            return;
        if (!full.StartsWith(DefaultMount + "/", StringComparison.Ordinal))
            throw new InvalidOperationException($"pin root {full} is not on a bpf file system and not under {DefaultMount}");
        Directory.CreateDirectory(DefaultMount);
        if (Interop.Interop.LibC.Mount("bpf", DefaultMount, "bpf", 0, 0) != 0)
            throw new BpfException($"mount(bpf, {DefaultMount}, bpf)", Errors.LastErrno(-1));
    }

    private static IEnumerable<string> BpfMounts()
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            int separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator > 0 && line[(separator + 3)..].StartsWith("bpf ", StringComparison.Ordinal))
                yield return line[..separator].Split(' ')[4];
        }
    }
}
