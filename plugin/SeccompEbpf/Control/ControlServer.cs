using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Control;

/// <summary>The local control socket: root only (peer credentials checked), one JSON request per connection.</summary>
internal sealed partial class ControlServer(ControlApi api, string socketPath, ILogger<ControlServer> logger) : BackgroundService
{
    private const int MaxRequestBytes = 64 * 1024;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var ours = Linux.Statx.InodeOf(socketPath);
        listener.Listen(16);
        LogListening(socketPath);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var connection = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
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
            var request = await ReadRequestAsync(stream, ct).ConfigureAwait(false);
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

    private static async Task WriteAsync(NetworkStream stream, ControlReply reply, CancellationToken ct)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(reply, ControlJson.Options);
        await stream.WriteAsync(line, ct).ConfigureAwait(false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes("\n"), ct).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Control socket listening on {SocketPath}")]
    private partial void LogListening(string socketPath);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control socket refused pid {Pid} uid {Uid}: not root")]
    private partial void LogRefusedPeer(int pid, uint uid);

    [LoggerMessage(Level = LogLevel.Error, Message = "Control request failed")]
    private partial void LogRequestFailed(Exception e);
}
