using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Control;

/// <summary>The local control socket: root only (peer credentials checked), one JSON request per connection.</summary>
internal sealed partial class ControlServer(ControlApi api, string socketPath, ILogger<ControlServer> logger) : BackgroundService
{
    private const int MaxRequestBytes = 64 * 1024;
    // Bounds on what clients can hold: each connection costs a 64 KB buffer and a task, and one that never sends its
    // request line (or never reads the replies of `events -f`) must not stay forever.
    internal const int MaxConnections = 64;
    internal static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    internal static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _connections = new(MaxConnections, MaxConnections);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var ours = Linux.Statx.InodeOf(socketPath);
        listener.Listen(MaxConnections); // a burst of CLI calls queues instead of failing connect with EAGAIN
        LogListening(socketPath);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var connection = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
                if (!_connections.Wait(0))
                {
                    _ = RefuseAsync(connection, stoppingToken);
                    continue;
                }
                _ = ServeAsync(connection, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // A daemon that replaced us may already have bound a new socket at this path: leave that one alone.
            try
            {
                if (Linux.Statx.InodeOf(socketPath) == ours)
                    File.Delete(socketPath);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task RefuseAsync(Socket socket, CancellationToken ct)
    {
        LogTooManyConnections(MaxConnections);
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            await WriteAsync(stream, ControlJson.Failure($"busy: {MaxConnections} control connections are open; try again"), ct).ConfigureAwait(false);
            // Closing at once would reset the connection under a client still sending its request, and it would see
            // EPIPE instead of the reply: stop sending, take what it sends for a moment, then close.
            socket.Shutdown(SocketShutdown.Send);
            using var linger = CancellationTokenSource.CreateLinkedTokenSource(ct);
            linger.CancelAfter(TimeSpan.FromSeconds(1));
            var discard = new byte[4096];
            while (await stream.ReadAsync(discard, linger.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken ct)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var peer = PeerCredentials.Of(socket);
            if (peer.Uid != 0)
            {
                LogRefusedPeer(peer.Pid, peer.Uid);
                await WriteAsync(stream, ControlJson.Failure($"permission denied: the control socket serves root only (you are uid {peer.Uid})"), ct).ConfigureAwait(false);
                return;
            }
            ControlRequest? request;
            using (var reading = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                reading.CancelAfter(RequestTimeout);
                try
                {
                    request = await ReadRequestAsync(stream, reading.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    LogRequestTimedOut(peer.Pid, RequestTimeout.TotalSeconds);
                    return;
                }
            }
            if (request is null)
            {
                await WriteAsync(stream, ControlJson.Failure("malformed request: expected one JSON object line with a \"verb\""), ct).ConfigureAwait(false);
                return;
            }
            await foreach (var reply in api.HandleAsync(request, ct).ConfigureAwait(false))
                await WriteAsync(stream, reply, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // The CLI went away (e.g. Ctrl-C on events -f) or the daemon is stopping.
        }
        catch (Exception e)
        {
            LogRequestFailed(e);
            try
            {
                await WriteAsync(stream, ControlJson.Failure($"internal error: {e.Message}"), ct).ConfigureAwait(false);
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
            }
        }
        finally
        {
            _connections.Release();
        }
    }

    private static async Task<ControlRequest?> ReadRequestAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new byte[MaxRequestBytes];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
            if (read == 0)
                break;
            var newline = Array.IndexOf(buffer, (byte)'\n', length, read);
            length += read;
            if (newline >= 0)
            {
                length = newline;
                break;
            }
        }
        try
        {
            var request = JsonSerializer.Deserialize<ControlRequest>(buffer.AsSpan(0, length), ControlJson.Options);
            return string.IsNullOrEmpty(request?.Verb) ? null : request;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // A client that stops reading (a stalled `events -f`) is dropped once one reply cannot be written for WriteTimeout.
    private static async Task WriteAsync(NetworkStream stream, ControlReply reply, CancellationToken ct)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(reply, ControlJson.Options);
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        writing.CancelAfter(WriteTimeout);
        await stream.WriteAsync(line, writing.Token).ConfigureAwait(false);
        await stream.WriteAsync("\n"u8.ToArray(), writing.Token).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Control socket listening on {SocketPath}")]
    private partial void LogListening(string socketPath);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control socket refused pid {Pid} uid {Uid}: not root")]
    private partial void LogRefusedPeer(int pid, uint uid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control socket refused a connection: {MaxConnections} are open")]
    private partial void LogTooManyConnections(int maxConnections);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control connection from pid {Pid} closed: no request within {Seconds} s")]
    private partial void LogRequestTimedOut(int pid, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Control request failed")]
    private partial void LogRequestFailed(Exception e);
}
