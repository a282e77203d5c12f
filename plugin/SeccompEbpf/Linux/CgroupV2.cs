using System.Runtime.InteropServices;

namespace SeccompEbpf.Linux;

/// <summary>Finds a process's cgroup v2 directory and id (the id <c>bpf_get_current_cgroup_id()</c> returns).</summary>
internal static partial class CgroupV2
{
    private const string MountInfo = "/proc/self/mountinfo";
    private static string? s_mountPoint;

    /// <summary>Where cgroup2 is mounted: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones.</summary>
    public static string MountPoint => s_mountPoint ??= FindMountPoint() ??
        throw new InvalidOperationException("no cgroup2 filesystem is mounted (looked in /proc/self/mountinfo); SeccompEbpf keys containers by cgroup v2 id");

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
    public static string DirectoryOf(int pid) => Path.Join(MountPoint, RelativePathOf(pid));

    /// <summary>The cgroup id of a cgroup directory: its inode number on cgroup2fs.</summary>
    public static ulong IdOf(string cgroupDirectory) => Statx.InodeOf(cgroupDirectory);

    internal static string? FindMountPoint()
    {
        foreach (var line in File.ReadLines(MountInfo))
        {
            // "36 25 0:31 / /sys/fs/cgroup/unified rw,... shared:9 - cgroup2 cgroup2 rw"
            var dash = line.IndexOf(" - ", StringComparison.Ordinal);
            if (dash < 0)
                continue;
            var fsType = line.AsSpan(dash + 3);
            if (!fsType.StartsWith("cgroup2 "))
                continue;
            var fields = line[..dash].Split(' ');
            if (fields.Length >= 5)
                return UnescapeMountPath(fields[4]);
        }
        return null;
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    private static string UnescapeMountPath(string path)
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
}

/// <summary>statx(2), for the inode numbers .NET's file APIs do not expose.</summary>
internal static partial class Statx
{
    private const int AtFdCwd = -100;
    private const uint StatxIno = 0x100;
    // struct statx is 256 bytes with stx_ino at offset 32 on every architecture.
    private const int StatxSize = 256;
    private const int InoOffset = 32;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NativeStatx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The inode number of <paramref name="path"/>.</summary>
    public static unsafe ulong InodeOf(string path)
    {
        var buffer = stackalloc byte[StatxSize];
        if (NativeStatx(AtFdCwd, path, 0, StatxIno, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"statx({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        return *(ulong*)(buffer + InoOffset);
    }
}
