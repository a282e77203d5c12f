using System.Runtime.InteropServices;

namespace SeccompEbpf.Nri.Interop;

/// <summary>fcntl(2) for the descriptor flags of the inherited NRI socket.</summary>
internal static partial class Fcntl
{
    private const int FGetFd = 1;
    private const int FSetFd = 2;
    private const int FdCloexec = 1;

    /// <summary>
    /// Marks <paramref name="fd"/> close-on-exec. The runtime hands fd 3 over without it, so any process this
    /// plugin starts would otherwise keep the runtime's connection open after the plugin exits.
    /// </summary>
    public static void SetCloseOnExec(int fd)
    {
        int flags = NativeFcntl(fd, FGetFd, 0);
        if (flags < 0)
        {
            throw new IOException($"fcntl(F_GETFD) on fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
        }

        if (NativeFcntl(fd, FSetFd, flags | FdCloexec) < 0)
        {
            throw new IOException($"fcntl(F_SETFD, FD_CLOEXEC) on fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>True when <paramref name="fd"/> has FD_CLOEXEC set.</summary>
    public static bool IsCloseOnExec(int fd)
    {
        int flags = NativeFcntl(fd, FGetFd, 0);
        if (flags < 0)
        {
            throw new IOException($"fcntl(F_GETFD) on fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return (flags & FdCloexec) != 0;
    }

    // fcntl is variadic; with only integer arguments the Linux x86-64 and arm64 calling conventions pass them as for a fixed signature.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int NativeFcntl(int fd, int command, int argument);
}
