using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SeccompEbpf.Nri.Testing;

/// <summary>socketpair(2), as the runtime uses it to launch a pre-installed plugin.</summary>
internal static partial class SocketPair
{
    private const int AfUnix = 1;
    private const int SockStream = 1;
    private const int SockCloexec = 0x80000;

    /// <summary>
    /// Returns the runtime's end as a Socket and the plugin's end as a raw fd (owned by whoever wraps it).
    /// Without <paramref name="closeOnExec"/> the fds look like what a launched plugin inherits (no FD_CLOEXEC).
    /// </summary>
    public static unsafe (Socket RuntimeEnd, int PluginFd) Create(bool closeOnExec = true)
    {
        int* fds = stackalloc int[2];
        if (NativeSocketPair(AfUnix, SockStream | (closeOnExec ? SockCloexec : 0), 0, fds) != 0)
        {
            throw new IOException($"socketpair(AF_UNIX, SOCK_STREAM) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return (new Socket(new SafeSocketHandle((IntPtr)fds[0], ownsHandle: true)), fds[1]);
    }

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int NativeSocketPair(int domain, int type, int protocol, int* fds);
}
