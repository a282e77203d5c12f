using System.Runtime.InteropServices;
using System.Net.Sockets;

namespace SeccompEbpf.Control;

/// <summary>SO_PEERCRED of a unix socket: who is on the other end, as the kernel saw it at connect time.</summary>
internal readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    public static PeerCredentials Of(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length < 12)
            throw new SocketException((int)SocketError.ProtocolNotSupported);
        // Native byte order: the kernel fills the struct for this machine.
        return new PeerCredentials(
            MemoryMarshal.Read<int>(ucred),
            MemoryMarshal.Read<uint>(ucred[4..]),
            MemoryMarshal.Read<uint>(ucred[8..]));
    }
}
