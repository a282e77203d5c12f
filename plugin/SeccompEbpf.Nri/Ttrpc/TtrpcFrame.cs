using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace SeccompEbpf.Nri.Ttrpc;

/// <summary>ttrpc message types (byte 8 of the header).</summary>
internal enum TtrpcMessageType : byte
{
    Request = 0x01,
    Response = 0x02,
    Data = 0x03,
}

/// <summary>A decoded 10-byte ttrpc header.</summary>
internal readonly record struct TtrpcHeader(uint Length, uint StreamId, TtrpcMessageType Type, byte Flags);

/// <summary>
/// The ttrpc message frame, written back to back into each logical connection's byte stream:
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------------------------------------------------------+
/// |           Payload length (u32, big-endian, ≤ 4 MiB)           |
/// +---------------------------------------------------------------+
/// |           Stream ID (u32, big-endian; client streams odd)     |
/// +---------------+---------------+-------------------------------+
/// |  Type (u8)    |  Flags (u8)   |  Payload: protobuf            |
/// +---------------+---------------+  ttrpc.Request / Response ... |
/// </code>
/// </summary>
internal static class TtrpcFrame
{
    public const int HeaderLength = 10;
    public const int MaxMessageLength = 4 << 20;
    private const int StreamIdOffset = 4;
    private const int TypeOffset = 8;
    private const int FlagsOffset = 9;

    /// <summary>Decodes the header at the front of <paramref name="buffer"/> without consuming it.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, out TtrpcHeader header)
    {
        if (buffer.Length < HeaderLength)
        {
            header = default;
            return false;
        }

        Span<byte> bytes = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(bytes);
        header = new TtrpcHeader(
            BinaryPrimitives.ReadUInt32BigEndian(bytes),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[StreamIdOffset..]),
            (TtrpcMessageType)bytes[TypeOffset],
            bytes[FlagsOffset]);
        return true;
    }

    /// <summary>Writes a header plus <paramref name="message"/>; refuses (before writing anything) a message over 4 MiB.</summary>
    public static void WriteMessage(IBufferWriter<byte> output, uint streamId, TtrpcMessageType type, IMessage message)
    {
        int length = message.CalculateSize();
        if (length > MaxMessageLength)
        {
            throw new NriStatusException(
                NriStatusCode.ResourceExhausted,
                $"message length {length} exceed maximum message size of {MaxMessageLength}");
        }

        Span<byte> header = output.GetSpan(HeaderLength);
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)length);
        BinaryPrimitives.WriteUInt32BigEndian(header[StreamIdOffset..], streamId);
        header[TypeOffset] = (byte)type;
        header[FlagsOffset] = 0;
        output.Advance(HeaderLength);
        if (length > 0)
        {
            message.WriteTo(output);
        }
    }
}
