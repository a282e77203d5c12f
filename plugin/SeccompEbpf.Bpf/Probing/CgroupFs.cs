using System.Runtime.InteropServices;
using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>Where the cgroup v2 hierarchy is mounted and how deep a cgroup (by id) sits in it.</summary>
public static partial class CgroupFs
{
    /// <summary>The cgroup2 mount point from /proc/self/mountinfo (e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified).</summary>
    public static string Cgroup2Mount()
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            int separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
                continue;
            var after = line[(separator + 3)..].Split(' ');
            if (after.Length > 0 && after[0] == "cgroup2")
                return Unescape(line[..separator].Split(' ')[4]);
        }
        throw new IOException("no cgroup2 file system is mounted (see /proc/self/mountinfo); the engine needs cgroup v2");
    }

    // Read once: /proc/self/mountinfo grows with every container's mounts, and binding N containers must not read it N
    // times. The cgroup2 mount of a running daemon does not move.
    private static readonly Lazy<string> s_mount = new(Cgroup2Mount);

    /// <summary>The cgroup2 mount point as first read by this process.</summary>
    internal static string Mount => s_mount.Value;

    /// <summary>The cgroup id of a directory in the cgroup2 tree: its inode number.</summary>
    public static ulong IdOf(string cgroupDirectory)
    {
        if (!Directory.Exists(cgroupDirectory))
            throw new DirectoryNotFoundException($"cgroup directory {cgroupDirectory} does not exist");
        return Stat.InodeOf(cgroupDirectory);
    }

    /// <summary>Path of the cgroup with this id, through open_by_handle_at on the cgroup2 root.</summary>
    internal static unsafe string PathOf(ulong cgroupId)
    {
        using var root = CapabilityProber.OpenCgroupRoot();
        // struct file_handle { u32 handle_bytes; int handle_type; u64 id } with FILEID_KERNFS (0xfe)
        ulong* handle = stackalloc ulong[2];
        ((uint*)handle)[0] = 8;
        ((int*)handle)[1] = 0xfe;
        handle[1] = cgroupId;
        int fd = Interop.Interop.LibC.OpenByHandleAt(root.Fd, handle, Interop.Interop.LibC.O_PATH | Interop.Interop.LibC.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new BpfException($"open_by_handle_at(cgroup {cgroupId})", errno, "no such cgroup in the cgroup2 hierarchy?");
        }
        using var cgroup = new SafeBpfFdHandle(fd);
        byte* buffer = stackalloc byte[4096];
        nint length = Interop.Interop.LibC.ReadLink($"/proc/self/fd/{fd}", buffer, 4096);
        if (length < 0)
            throw new BpfException($"readlink(/proc/self/fd/{fd})", Marshal.GetLastPInvokeError());
        return System.Text.Encoding.UTF8.GetString(buffer, (int)length);
    }

    /// <summary>Depth below the cgroup2 root (the root is level 0), as bpf_get_current_ancestor_cgroup_id counts.</summary>
    internal static int LevelOf(ulong cgroupId)
    {
        string path = PathOf(cgroupId);
        string root = Mount.TrimEnd('/');
        // readlink gives the path as seen from our mount namespace: strip the mount point
        string relative = path.StartsWith(root, StringComparison.Ordinal) ? path[root.Length..] : path;
        return relative.Split('/', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    private static string Unescape(string mountPath) => mountPath.Replace("\\040", " ", StringComparison.Ordinal);

    private static partial class Stat
    {
        [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static unsafe partial int StatNative(string path, byte* buffer);

        internal static unsafe ulong InodeOf(string path)
        {
            byte* buffer = stackalloc byte[256]; // struct stat is 144 bytes on x86_64 and 128 on arm64
            if (StatNative(path, buffer) != 0)
                throw new BpfException($"stat({path})", Marshal.GetLastPInvokeError());
            return *(ulong*)(buffer + 8); // st_ino follows st_dev on 64-bit Linux
        }
    }
}
