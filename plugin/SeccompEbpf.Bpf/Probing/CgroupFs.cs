using System.Runtime.InteropServices;
using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>
/// The one cgroup v2 helper: where the hierarchy is mounted, a process's cgroup directory, a cgroup's id (the inode of
/// its directory, what <c>bpf_get_current_cgroup_id()</c> returns), its path and its depth.
/// </summary>
public static partial class CgroupFs
{
    /// <summary>
    /// The cgroup2 mount point from /proc/self/mountinfo: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on
    /// hybrid ones. Read fresh on every call (doctor); <see cref="Mount"/> is the cached one.
    /// </summary>
    public static string Cgroup2Mount()
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            int separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
                continue;
            var after = line[(separator + 3)..].Split(' ');
            if (after.Length > 0 && after[0] == "cgroup2" && line[..separator].Split(' ') is { Length: >= 5 } fields)
                return Unescape(fields[4]);
        }
        throw new IOException("no cgroup2 file system is mounted (see /proc/self/mountinfo); SeccompEbpf keys containers by cgroup v2 id");
    }

    // Read once: /proc/self/mountinfo grows with every container's mounts, and binding N containers must not read it N
    // times. The cgroup2 mount of a running daemon does not move.
    private static readonly Lazy<string> s_mount = new(Cgroup2Mount);

    /// <summary>The cgroup2 mount point as first read by this process.</summary>
    public static string Mount => s_mount.Value;

    /// <summary>The cgroup v2 path of <paramref name="pid"/>, relative to the cgroup2 mount (the <c>0::</c> line of /proc/PID/cgroup).</summary>
    public static string RelativePathOf(int pid)
    {
        var file = $"/proc/{pid}/cgroup";
        foreach (var line in File.ReadLines(file))
        {
            // cgroup v2 (and the unified part of a hybrid host) is the hierarchy with id 0 and no controllers.
            if (line.StartsWith("0::", StringComparison.Ordinal))
                return line[3..];
        }
        throw new InvalidOperationException($"{file} has no cgroup v2 ('0::') entry: the process is not in a cgroup2 hierarchy");
    }

    /// <summary>The absolute directory of <paramref name="pid"/>'s cgroup v2.</summary>
    public static string DirectoryOf(int pid) => Path.Join(Mount, RelativePathOf(pid));

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

    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    private static string Unescape(string path)
    {
        if (!path.Contains('\\'))
            return path;
        var sb = new System.Text.StringBuilder(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '\\' && i + 3 < path.Length && IsOctal(path[i + 1]) && IsOctal(path[i + 2]) && IsOctal(path[i + 3]))
            {
                sb.Append((char)Convert.ToInt32(path.Substring(i + 1, 3), 8));
                i += 3;
                continue;
            }
            sb.Append(path[i]);
        }
        return sb.ToString();

        static bool IsOctal(char c) => c is >= '0' and <= '7';
    }

    private static partial class Stat
    {
        [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static unsafe partial int StatNative(string path, byte* buffer);

        internal static unsafe ulong InodeOf(string path)
        {
            byte* buffer = stackalloc byte[256]; // struct stat is 144 bytes on x86_64 and 128 on arm64
            if (StatNative(path, buffer) != 0)
                throw new IOException($"stat({path}) failed: {Errors.Describe(Marshal.GetLastPInvokeError())}");
            return *(ulong*)(buffer + 8); // st_ino follows st_dev on 64-bit Linux
        }
    }
}
