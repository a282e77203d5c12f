using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SeccompEbpf.Daemon;

/// <summary>Another daemon already owns the pin root or the control socket; the message names its PID.</summary>
internal sealed class DaemonAlreadyRunningException(string message) : Exception(message);

/// <summary>
/// One daemon per pin root and per control socket, held for the daemon's lifetime. A second daemon on the same pin root
/// would adopt the first one's bindings and then unbind the containers it does not know, and would delete the first
/// one's socket: so it must stop before it opens the engine or touches the socket path. The locks are flock(2)s, which
/// the kernel drops when the process dies however it dies, so a crashed daemon never blocks its successor.
/// </summary>
internal sealed partial class DaemonLock : IDisposable
{
    private const int OReadOnly = 0;
    private const int OReadWrite = 2;
    private const int OCreate = 0x40;
    private const int ODirectory = 0x10000;  // asm-generic and x86_64 alike
    private const int ONoFollow = 0x20000;
    private const int OCloExec = 0x80000;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int Ewouldblock = 11;
    private const int Eintr = 4;
    private const int Enoent = 2;
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1;
    private const uint StatxIno = 0x100;
    private const int StatxSize = 256;
    private const int ModeOffset = 28, InoOffset = 32, DevMajorOffset = 136, DevMinorOffset = 140; // struct statx, every architecture

    private readonly List<SafeFileHandle> _held;

    private DaemonLock(List<SafeFileHandle> held) => _held = held;

    /// <summary>
    /// Locks the pin root directory itself (bpffs takes no regular files, but flock works on its directories) and
    /// <c>SOCKET.lock</c> next to the control socket, then checks that nothing else is served at the socket path.
    /// </summary>
    /// <param name="pinRoot">An existing pin root directory, or null when there is none to guard (no engine can open one).</param>
    /// <param name="controlSocket">The control socket's path.</param>
    /// <exception cref="DaemonAlreadyRunningException">Another daemon holds either lock or listens on the socket.</exception>
    public static DaemonLock Acquire(string? pinRoot, string controlSocket)
    {
        var held = new List<SafeFileHandle>();
        try
        {
            if (pinRoot is not null)
                held.Add(Lock(pinRoot, OReadOnly | ODirectory | OCloExec, $"pin root {pinRoot}"));
            Directory.CreateDirectory(Path.GetDirectoryName(controlSocket)!);
            held.Add(Lock(controlSocket + ".lock", OReadWrite | OCreate | ONoFollow | OCloExec, $"control socket {controlSocket}"));
            GuardSocketPath(controlSocket);
            return new DaemonLock(held);
        }
        catch
        {
            foreach (var handle in held)
                handle.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var handle in _held)
            handle.Dispose();
    }

    private static SafeFileHandle Lock(string path, int flags, string what)
    {
        int fd;
        do
            fd = NativeOpen(path, flags, Convert.ToInt32("600", 8));
        while (fd < 0 && Marshal.GetLastPInvokeError() == Eintr);
        if (fd < 0)
            throw Failure($"open({path})");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        int result;
        do
            result = NativeFlock(fd, LockExclusive | LockNonBlocking);
        while (result != 0 && Marshal.GetLastPInvokeError() == Eintr);
        if (result == 0)
            return handle;
        int errno = Marshal.GetLastPInvokeError();
        try
        {
            if (errno != Ewouldblock)
                throw Failure($"flock({path}, LOCK_EX|LOCK_NB)", errno);
            var holder = HolderOf(fd) is { } pid ? $"pid {pid}" : "a process /proc/locks does not show";
            throw new DaemonAlreadyRunningException(
                $"another seccomp-ebpf daemon ({holder}) is running on the {what}; stop it first (a second daemon would take over its bindings and its socket)");
        }
        finally
        {
            handle.Dispose();
        }
    }

    // The lock holder is the process named in /proc/locks for this file's device and inode (no PID file to go stale).
    private static unsafe int? HolderOf(int fd)
    {
        var buffer = stackalloc byte[StatxSize];
        if (NativeStatx(fd, "", AtEmptyPath, StatxIno, buffer) != 0)
            return null;
        var id = string.Create(CultureInfo.InvariantCulture,
            $"{*(uint*)(buffer + DevMajorOffset):x2}:{*(uint*)(buffer + DevMinorOffset):x2}:{*(ulong*)(buffer + InoOffset)}");
        foreach (var line in File.ReadLines("/proc/locks"))
        {
            // "1: FLOCK  ADVISORY  WRITE 4711 00:28:178218 0 EOF"; waiters are listed as "1: -> FLOCK ...".
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 6 && fields[1] == "FLOCK" && fields[5] == id && int.TryParse(fields[4], CultureInfo.InvariantCulture, out var pid))
                return pid;
        }
        return null;
    }

    // With both locks held no seccomp-ebpf daemon owns the path, but an older daemon (or anything else) might still
    // listen there, and a regular file or symlink at the path is not ours to delete.
    private static unsafe void GuardSocketPath(string socketPath)
    {
        var buffer = stackalloc byte[StatxSize];
        if (NativeStatx(AtFdCwd, socketPath, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Enoent)
                return;
            throw Failure($"statx({socketPath})", errno);
        }
        if ((*(ushort*)(buffer + ModeOffset) & 0xF000) != 0xC000)
            throw new DaemonAlreadyRunningException($"{socketPath} exists and is not a socket; refusing to replace it with the control socket");
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(socketPath));
        }
        catch (SocketException)
        {
            return; // a stale socket of a daemon that is gone: ControlServer replaces it
        }
        throw new DaemonAlreadyRunningException($"another process is listening on the control socket {socketPath}; stop it first");
    }

    private static IOException Failure(string call, int? errno = null)
    {
        int e = errno ?? Marshal.GetLastPInvokeError();
        return new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(e)} (errno {e})");
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeOpen(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int NativeFlock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NativeStatx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
