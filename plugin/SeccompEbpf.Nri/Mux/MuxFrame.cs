using System.Buffers;
using System.Buffers.Binary;

namespace SeccompEbpf.Nri.Mux;

/// <summary>
/// The NRI multiplexer frame. Every byte on the trunk socket belongs to one of these:
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------------------------------------------------------+
/// |                  Connection ID (u32, big-endian)              |
/// +---------------------------------------------------------------+
/// |                  Payload length (u32, big-endian)             |
/// +---------------------------------------------------------------+
/// |   Payload: an arbitrary slice of that logical connection's   |
/// |   byte stream (not aligned with ttrpc messages)               |
/// +---------------------------------------------------------------+
/// </code>
/// </summary>
internal static class MuxFrame
{
    public const int HeaderLength = 8;

    /// <summary>Go's receiver reads each frame into a 4096-byte bufio buffer; a larger frame kills the connection.</summary>
    public const int MaxOutgoingPayload = 4096;

    /// <summary>NRI 0.6.1 accepted frames up to 16 MiB; nothing legitimate is larger.</summary>
    public const int MaxIncomingPayload = 1 << 24;

    /// <summary>Runtime is the ttrpc client, the plugin serves <c>nri.pkg.api.v1alpha1.Plugin</c>.</summary>
    public const uint PluginServiceConnection = 1;

    /// <summary>Plugin is the ttrpc client, the runtime serves <c>nri.pkg.api.v1alpha1.Runtime</c>.</summary>
    public const uint RuntimeServiceConnection = 2;

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/>. Returns false while the frame is incomplete.
    /// The declared length is checked against the limit before waiting for the body.
    /// </summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out uint connectionId, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        connectionId = 0;
        if (buffer.Length < HeaderLength)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        connectionId = BinaryPrimitives.ReadUInt32BigEndian(header);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        if (length > MaxIncomingPayload)
        {
            throw new NriProtocolException(
                $"mux frame for connection {connectionId} declares {length} payload bytes, more than the limit of {MaxIncomingPayload}");
        }

        if (buffer.Length - HeaderLength < length)
        {
            return false;
        }

        payload = buffer.Slice(HeaderLength, length);
        buffer = buffer.Slice(HeaderLength + length);
        return true;
    }

    /// <summary>Appends <paramref name="data"/> to <paramref name="output"/> cut into frames of at most <see cref="MaxOutgoingPayload"/> bytes.</summary>
    public static void WriteFrames(uint connectionId, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        while (!data.IsEmpty)
        {
            int chunk = Math.Min(data.Length, MaxOutgoingPayload);
            Span<byte> span = output.GetSpan(HeaderLength + chunk);
            BinaryPrimitives.WriteUInt32BigEndian(span, connectionId);
            BinaryPrimitives.WriteUInt32BigEndian(span[4..], (uint)chunk);
            data[..chunk].CopyTo(span[HeaderLength..]);
            output.Advance(HeaderLength + chunk);
            data = data[chunk..];
        }
    }
}
