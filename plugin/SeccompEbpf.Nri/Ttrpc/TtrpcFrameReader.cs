using System.Buffers;
using System.IO.Pipelines;

namespace SeccompEbpf.Nri.Ttrpc;

/// <summary>Receives the messages a <see cref="TtrpcFrameReader"/> parses; both calls run on the read loop and must not block.</summary>
internal interface ITtrpcFrameSink
{
    /// <summary>A complete message; <paramref name="payload"/> is only valid during the call.</summary>
    void OnMessage(in TtrpcHeader header, in ReadOnlySequence<byte> payload);

    /// <summary>A message over 4 MiB whose payload was discarded without buffering it.</summary>
    void OnOversizedMessage(in TtrpcHeader header);
}

/// <summary>Parses ttrpc frames out of a logical connection's reassembled byte stream.</summary>
internal static class TtrpcFrameReader
{
    /// <summary>
    /// Reads until EOF. Returns normally on EOF at a message boundary; throws <see cref="NriProtocolException"/>
    /// on EOF inside a message. Exceptions from the sink end the loop.
    /// </summary>
    public static async Task ReadAllAsync(PipeReader input, ITtrpcFrameSink sink, CancellationToken ct)
    {
        long discardRemaining = 0;
        TtrpcHeader discarded = default;
        while (true)
        {
            ReadResult result = await input.ReadAsync(ct).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            try
            {
                while (true)
                {
                    if (discardRemaining > 0)
                    {
                        long skip = Math.Min(discardRemaining, buffer.Length);
                        buffer = buffer.Slice(skip);
                        discardRemaining -= skip;
                        if (discardRemaining > 0)
                        {
                            break;
                        }

                        sink.OnOversizedMessage(discarded);
                    }

                    if (!TtrpcFrame.TryReadHeader(buffer, out TtrpcHeader header))
                    {
                        break;
                    }

                    if (header.Length > TtrpcFrame.MaxMessageLength)
                    {
                        // Like Go's channel.recv: skip the payload as it streams in, then report it.
                        discarded = header;
                        discardRemaining = header.Length;
                        buffer = buffer.Slice(TtrpcFrame.HeaderLength);
                        continue;
                    }

                    if (buffer.Length - TtrpcFrame.HeaderLength < header.Length)
                    {
                        break;
                    }

                    sink.OnMessage(header, buffer.Slice(TtrpcFrame.HeaderLength, header.Length));
                    buffer = buffer.Slice(TtrpcFrame.HeaderLength + header.Length);
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!buffer.IsEmpty || discardRemaining > 0)
                    {
                        throw new NriProtocolException(
                            $"the connection ended inside a ttrpc message ({buffer.Length} bytes of it buffered, {discardRemaining} still to discard)");
                    }

                    return;
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }
}
