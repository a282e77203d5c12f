using System.Net.Sockets;
using SeccompEbpf.Control;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// The daemon's single-instance lock and the CLI's view of a missing daemon, in process: no containerd, no bpffs
/// (flock works on any directory, so a temporary one stands in for the pin root).
/// </summary>
public sealed class DaemonLockTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("daemon-lock-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string PinRoot => Directory.CreateDirectory(Path.Join(_root, "pins")).FullName;
    private string Socket => Path.Join(_root, "run", "control.sock");

    // .NET unlinks the path it bound when the socket is disposed: bound under another name and renamed, the socket
    // file outlives it, as a crashed daemon's would.
    private Socket BindElsewhereAndMove()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Socket)!);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(Socket + ".bound"));
        File.Move(Socket + ".bound", Socket);
        return socket;
    }

    [Fact]
    public void A_second_holder_is_refused_with_the_first_ones_pid_until_the_first_lets_go()
    {
        using (DaemonLock.Acquire(PinRoot, Socket))
        {
            // flock conflicts between open file descriptions, even within one process.
            var e = Assert.Throws<DaemonAlreadyRunningException>(() => DaemonLock.Acquire(PinRoot, Socket));
            Assert.Contains($"another seccomp-ebpf daemon (pid {Environment.ProcessId}) is running on the pin root {PinRoot}", e.Message);
            e = Assert.Throws<DaemonAlreadyRunningException>(() => DaemonLock.Acquire(null, Socket));
            Assert.Contains($"(pid {Environment.ProcessId}) is running on the control socket {Socket}", e.Message);
        }
        DaemonLock.Acquire(PinRoot, Socket).Dispose();
    }

    [Fact]
    public void A_socket_path_that_something_serves_or_that_is_not_a_socket_is_refused()
    {
        using (var listener = BindElsewhereAndMove())
        {
            listener.Listen(1);
            var e = Assert.Throws<DaemonAlreadyRunningException>(() => DaemonLock.Acquire(PinRoot, Socket));
            Assert.Contains($"another process is listening on the control socket {Socket}", e.Message);
        }
        // Closed, the socket file stays behind: a stale socket is fine to replace.
        Assert.True(File.Exists(Socket));
        DaemonLock.Acquire(PinRoot, Socket).Dispose();

        File.Delete(Socket);
        File.WriteAllText(Socket, "not a socket");
        Assert.Contains("exists and is not a socket", Assert.Throws<DaemonAlreadyRunningException>(() => DaemonLock.Acquire(PinRoot, Socket)).Message);
    }

    [Fact]
    public async Task The_cli_says_the_daemon_is_not_running_when_there_is_no_socket_or_nobody_listens()
    {
        var e = await Assert.ThrowsAsync<ControlUnavailableException>(() => ControlClient.ConnectAsync(Socket, CancellationToken.None));
        Assert.Equal($"daemon not running (no socket at {Socket})", e.Message);

        BindElsewhereAndMove().Dispose();
        e = await Assert.ThrowsAsync<ControlUnavailableException>(() => ControlClient.ConnectAsync(Socket, CancellationToken.None));
        Assert.Equal($"daemon not running (nothing listens on {Socket})", e.Message);
    }
}
