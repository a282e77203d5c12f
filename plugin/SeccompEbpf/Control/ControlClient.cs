using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SeccompEbpf.Control;

/// <summary>The CLI's side of the control socket.</summary>
internal sealed class ControlClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private ControlClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <exception cref="ControlUnavailableException">The daemon is not listening there.</exception>
    public static async Task<ControlClient> ConnectAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
            return new ControlClient(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            // connect(2) says ENOENT (AddressNotAvailable here) for a missing path and ECONNREFUSED for a socket nobody serves.
            throw new ControlUnavailableException(e.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable when !Path.Exists(socketPath) => $"daemon not running (no socket at {socketPath})",
                SocketError.ConnectionRefused => $"daemon not running (nothing listens on {socketPath})",
                SocketError.AccessDenied => $"permission denied on {socketPath}: the control commands are for root",
                _ => $"cannot reach the seccomp-ebpf daemon at {socketPath}: {e.Message} (is it running? see 'seccomp-ebpf run')",
            });
        }
    }

    /// <summary>
    /// The request as the line the daemon reads. Encode before connecting: the daemon drops a connection that sends no
    /// request within <see cref="ControlServer.RequestTimeout"/>, and a cold process (first use of the serializer, a slow
    /// or emulated machine) can take that long to serialize.
    /// </summary>
    public static byte[] Encode(ControlRequest request) => [.. JsonSerializer.SerializeToUtf8Bytes(request, ControlJson.Options), (byte)'\n'];

    public async Task SendAsync(byte[] encodedRequest, CancellationToken ct)
        => await _stream.WriteAsync(encodedRequest, ct).ConfigureAwait(false);

    /// <summary>The reply lines, until the daemon closes the connection.</summary>
    public async IAsyncEnumerable<ControlReply> RepliesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        while (await _reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            ControlReply? reply;
            try
            {
                reply = JsonSerializer.Deserialize<ControlReply>(line, ControlJson.Options);
            }
            catch (JsonException e)
            {
                throw new ControlUnavailableException($"the daemon sent an unreadable reply: {e.Message}");
            }
            if (reply is not null)
                yield return reply;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }
}

/// <summary>The daemon cannot be reached or answered nonsense.</summary>
internal sealed class ControlUnavailableException(string message) : Exception(message);
