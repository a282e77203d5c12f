using System.Buffers;
using System.Net.Sockets;
using Google.Protobuf;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc;
using SeccompEbpf.Nri.Ttrpc.Wire;

namespace SeccompEbpf.Nri.Tests;

/// <summary>A runtime that speaks raw bytes, for golden-vector and hostile-input tests.</summary>
internal sealed class RawRuntimePeer : IAsyncDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);
    private readonly NetworkStream _stream;
    private readonly Dictionary<uint, List<byte>> _buffers = new();

    public RawRuntimePeer(Socket socket) => _stream = new NetworkStream(socket, ownsSocket: true);

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    /// <summary>A ttrpc message (header plus envelope) as bytes.</summary>
    public static byte[] TtrpcBytes(uint streamId, TtrpcMessageType type, IMessage message)
    {
        var writer = new ArrayBufferWriter<byte>();
        TtrpcFrame.WriteMessage(writer, streamId, type, message);
        return writer.WrittenSpan.ToArray();
    }

    public static byte[] RequestBytes(uint streamId, string method, IMessage payload, long timeoutNano = 2_000_000_000)
        => TtrpcBytes(streamId, TtrpcMessageType.Request, new Request
        {
            Service = "nri.pkg.api.v1alpha1.Plugin",
            Method = method,
            Payload = payload.ToByteString(),
            TimeoutNano = timeoutNano,
        });

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        byte[] bytes = new byte[count];
        await _stream.ReadExactlyAsync(bytes).AsTask().WaitAsync(s_timeout);
        return bytes;
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends a logical byte stream on a connection, cut into ≤4096-byte mux frames.</summary>
    public Task SendAsync(uint connectionId, byte[] logical)
    {
        var writer = new ArrayBufferWriter<byte>();
        MuxFrame.WriteFrames(connectionId, logical, writer);
        return SendRawAsync(writer.WrittenSpan.ToArray());
    }

    public Task SendRequestAsync(uint streamId, string method, IMessage payload, long timeoutNano = 2_000_000_000)
        => SendAsync(MuxFrame.PluginServiceConnection, RequestBytes(streamId, method, payload, timeoutNano));

    /// <summary>Reads mux frames until one connection holds a complete ttrpc message.</summary>
    public async Task<(uint Connection, TtrpcHeader Header, byte[] Payload)> ReadMessageAsync()
    {
        while (true)
        {
            foreach ((uint connection, List<byte> buffer) in _buffers)
            {
                var sequence = new ReadOnlySequence<byte>(buffer.ToArray());
                if (TtrpcFrame.TryReadHeader(sequence, out TtrpcHeader header) && sequence.Length >= TtrpcFrame.HeaderLength + header.Length)
                {
                    byte[] payload = sequence.Slice(TtrpcFrame.HeaderLength, header.Length).ToArray();
                    buffer.RemoveRange(0, TtrpcFrame.HeaderLength + (int)header.Length);
                    return (connection, header, payload);
                }
            }

            byte[] muxHeader = await ReadExactlyAsync(MuxFrame.HeaderLength);
            uint id = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(muxHeader);
            int length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(muxHeader.AsSpan(4));
            // Go's mux hands each frame to a 4096-byte bufio reader; anything larger kills the connection (§3.3).
            if (length > 4096)
            {
                throw new InvalidDataException($"the plugin sent a {length}-byte mux frame; Go runtimes accept at most 4096");
            }

            byte[] payloadBytes = await ReadExactlyAsync(length);
            if (!_buffers.TryGetValue(id, out List<byte>? list))
            {
                _buffers[id] = list = [];
            }

            list.AddRange(payloadBytes);
        }
    }

    public async Task<Response> ReadResponseAsync(uint expectedStreamId)
    {
        (uint connection, TtrpcHeader header, byte[] payload) = await ReadMessageAsync();
        if (connection != MuxFrame.PluginServiceConnection || header.Type != TtrpcMessageType.Response || header.StreamId != expectedStreamId)
        {
            throw new InvalidDataException($"expected a response on connection 1 stream {expectedStreamId}, got type {header.Type} on connection {connection} stream {header.StreamId}");
        }

        return Response.Parser.ParseFrom(payload);
    }

    /// <summary>Reads the plugin's RegisterPlugin (connection 2, stream 1) and answers it OK.</summary>
    public async Task<RegisterPluginRequest> AcceptRegistrationAsync()
    {
        (uint connection, TtrpcHeader header, byte[] payload) = await ReadMessageAsync();
        if (connection != MuxFrame.RuntimeServiceConnection || header.StreamId != 1)
        {
            throw new InvalidDataException($"expected RegisterPlugin on connection 2 stream 1, got connection {connection} stream {header.StreamId}");
        }

        Request request = Request.Parser.ParseFrom(payload);
        await SendAsync(MuxFrame.RuntimeServiceConnection, Hex("00000000 00000001 02 00"));
        return RegisterPluginRequest.Parser.ParseFrom(request.Payload);
    }

    /// <summary>Reads until the plugin closes the connection; throws if it sends a complete message first.</summary>
    public async Task WaitForCloseAsync()
    {
        byte[] buffer = new byte[64 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await _stream.ReadAsync(buffer).AsTask().WaitAsync(s_timeout);
            }
            catch (IOException)
            {
                return;
            }

            if (read == 0)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
