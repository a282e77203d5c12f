using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SeccompEbpf.Profiles.Parsing;

/// <summary>A profile file could not be read safely; the message names the path and the reason.</summary>
public sealed class ProfileFileException(string message) : IOException(message);

/// <summary>
/// The one way profiles are read from disk (daemon and CLI alike). Profile directories are writable by people who
/// should not be able to stall or exhaust the daemon, so a profile must be a regular file: a FIFO would block the
/// open or the read, a character device (/dev/zero, /dev/urandom) never ends, and <see cref="FileInfo.Length"/> is 0
/// for both. The path is resolved first, optionally checked against a root, then opened with O_NOFOLLOW (a symlink
/// swapped in after the check is refused) and O_NONBLOCK (a FIFO never blocks the open), and the open file must be
/// regular; the bytes actually read are counted against the cap.
/// </summary>
public static partial class ProfileFile
{
    private const int OReadOnly = 0;
    private const int ONonBlock = 0x800;
    private const int ONoFollow = 0x20000;   // same value on x86_64 and aarch64 (asm-generic)
    private const int OCloExec = 0x80000;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1;
    private const int StatxSize = 256;       // struct statx, the same layout on every architecture
    private const int StatxModeOffset = 28;  // __u16 stx_mode
    private const int Eintr = 4;

    /// <summary>Reads <paramref name="path"/> as a profile file of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <param name="path">The profile file; symlinks are resolved once, before the check and the open.</param>
    /// <param name="root">When set, the resolved path must lie under the resolved root (symlinks inside the root may not lead out).</param>
    /// <param name="maxBytes">The most bytes accepted, counted as read.</param>
    /// <exception cref="ProfileFileException">Missing, outside the root, not a regular file, too large or unreadable.</exception>
    public static byte[] ReadAllBytes(string path, string? root = null, int maxBytes = ProfileParser.MaxProfileBytes)
    {
        using var handle = Open(path, root);
        // Synchronous reads complete the shared loop synchronously.
        var read = ReadCappedAsync(handle, path, maxBytes, (h, m, o) => ValueTask.FromResult(RandomAccess.Read(h, m.Span, o)));
        return read.GetAwaiter().GetResult();
    }

    /// <inheritdoc cref="ReadAllBytes"/>
    public static async Task<byte[]> ReadAllBytesAsync(string path, string? root = null, int maxBytes = ProfileParser.MaxProfileBytes, CancellationToken cancellationToken = default)
    {
        using var handle = Open(path, root);
        return await ReadCappedAsync(handle, path, maxBytes, (h, m, o) => RandomAccess.ReadAsync(h, m, o, cancellationToken)).ConfigureAwait(false);
    }

    // Counts what read(2) returns, never the file's claimed size: at most maxBytes + 1 bytes are ever buffered.
    private static async ValueTask<byte[]> ReadCappedAsync(SafeFileHandle handle, string path, int maxBytes, Func<SafeFileHandle, Memory<byte>, long, ValueTask<int>> read)
    {
        var buffer = new byte[Math.Min(maxBytes + 1, 64 * 1024)];
        int total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                if (buffer.Length > maxBytes)
                    throw TooLarge(path, maxBytes);
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, maxBytes + 1L));
            }
            int n = await read(handle, buffer.AsMemory(total), total).ConfigureAwait(false);
            if (n == 0)
                break;
            total += n;
        }
        return total > maxBytes ? throw TooLarge(path, maxBytes) : buffer.AsSpan(0, total).ToArray();
    }

    /// <summary>The canonical path of <paramref name="path"/>, or null when it does not exist.</summary>
    public static string? RealPathOf(string path)
    {
        var result = NativeRealPath(path, 0);
        if (result == 0)
            return null;
        try
        {
            return Marshal.PtrToStringUTF8(result);
        }
        finally
        {
            Free(result);
        }
    }

    private static SafeFileHandle Open(string path, string? root)
    {
        var resolved = RealPathOf(path) ?? throw new ProfileFileException($"{path}: file not found");
        if (root is not null)
        {
            var resolvedRoot = RealPathOf(root) ?? throw new ProfileFileException($"{path}: the profile root {root} does not exist");
            if (!resolved.StartsWith(resolvedRoot.TrimEnd('/') + "/", StringComparison.Ordinal))
                throw new ProfileFileException($"{path} resolves to {resolved}, outside {resolvedRoot}");
        }
        int fd;
        do
            fd = NativeOpen(resolved, OReadOnly | ONoFollow | ONonBlock | OCloExec);
        while (fd < 0 && Marshal.GetLastPInvokeError() == Eintr);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new ProfileFileException($"{path}: open({resolved}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var mode = ModeOf(handle, resolved);
            if ((mode & 0xF000) != 0x8000)
                throw new ProfileFileException($"{path}: {Describe(mode)}, not a regular file; a profile must be a regular file");
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static unsafe ushort ModeOf(SafeFileHandle handle, string resolved)
    {
        var buffer = stackalloc byte[StatxSize];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (NativeStatx((int)handle.DangerousGetHandle(), "", AtEmptyPath, StatxType, buffer) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new ProfileFileException($"statx({resolved}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
        return *(ushort*)(buffer + StatxModeOffset);
    }

    private static string Describe(ushort mode) => (mode & 0xF000) switch
    {
        0x1000 => "a FIFO",
        0x2000 => "a character device",
        0x4000 => "a directory",
        0x6000 => "a block device",
        0xA000 => "a symbolic link",
        0xC000 => "a socket",
        _ => $"a special file (mode 0{Convert.ToString(mode, 8)})",
    };

    private static ProfileFileException TooLarge(string path, int maxBytes) =>
        new($"{path}: larger than {maxBytes} bytes, the limit for a profile");

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeOpen(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NativeStatx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint NativeRealPath(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
