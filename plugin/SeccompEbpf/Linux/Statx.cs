using System.Runtime.InteropServices;

namespace SeccompEbpf.Linux;

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
