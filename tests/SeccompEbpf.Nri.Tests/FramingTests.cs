using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc;
using SeccompEbpf.Nri.Ttrpc.Wire;
using static SeccompEbpf.Nri.Tests.RawRuntimePeer;

namespace SeccompEbpf.Nri.Tests;

/// <summary>Mux framing, per-connection reassembly and ttrpc framing at every split point.</summary>
public sealed class FramingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(20000)]
    public void OutgoingFramesNeverExceed4096PayloadBytesAndKeepTheBytes(int length)
    {
        byte[] data = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
        var writer = new ArrayBufferWriter<byte>();
        MuxFrame.WriteFrames(2, data, writer);

        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        var reassembled = new List<byte>();
        int frames = 0;
        while (MuxFrame.TryReadFrame(ref buffer, out uint id, out ReadOnlySequence<byte> payload))
        {
            Assert.Equal(2u, id);
            Assert.InRange(payload.Length, 1, 4096);
            reassembled.AddRange(payload.ToArray());
            frames++;
        }

        Assert.True(buffer.IsEmpty);
        Assert.Equal((length + 4095) / 4096, frames);
        Assert.Equal(data, reassembled);
    }

    [Fact]
    public void OversizedMuxLengthIsRejectedBeforeTheBodyArrives()
    {
        var buffer = new ReadOnlySequence<byte>(Hex("00000001 ffffff00"));
        var error = Assert.Throws<NriProtocolException>(() => MuxFrame.TryReadFrame(ref buffer, out _, out _));
        Assert.Contains("4294967040", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TtrpcRefusesToSendMoreThan4MiB()
    {
        var request = new Request { Payload = ByteString.CopyFrom(new byte[TtrpcFrame.MaxMessageLength]) };
        var error = Assert.Throws<NriStatusException>(() => TtrpcFrame.WriteMessage(new ArrayBufferWriter<byte>(), 1, TtrpcMessageType.Request, request));
        Assert.Equal(NriStatusCode.ResourceExhausted, error.Code);
    }

    /// <summary>
    /// A trunk byte stream with two messages on connection 1 (one spread over three mux frames, cut mid-header),
    /// one on connection 2 and a frame for an unopened connection, delivered split at every single offset.
    /// </summary>
    [Fact]
    public async Task ReassemblesEveryMessageWhateverTheSplitPoint()
    {
        (byte[] stream, Request[] expected1, Response expected2) = BuildTrunkStream();
        for (int split = 0; split <= stream.Length; split++)
        {
            (List<Request> got1, List<Response> got2) = await ReceiveAsync([stream[..split], stream[split..]]);
            Assert.Equal(expected1, got1);
            Assert.Equal([expected2], got2);
        }
    }

    [Fact]
    public async Task ReassemblesWhenFedOneByteAtATime()
    {
        (byte[] stream, Request[] expected1, Response expected2) = BuildTrunkStream();
        (List<Request> got1, List<Response> got2) = await ReceiveAsync(stream.Select(b => new[] { b }).ToArray());
        Assert.Equal(expected1, got1);
        Assert.Equal([expected2], got2);
    }

    [Fact]
    public async Task ReaderSkipsAnOversizedMessageWithoutBufferingItAndKeepsParsing()
    {
        var pipe = new System.IO.Pipelines.Pipe();
        var sink = new CollectingSink();
        Task reading = TtrpcFrameReader.ReadAllAsync(pipe.Reader, sink, CancellationToken.None);

        uint oversized = TtrpcFrame.MaxMessageLength + 1;
        byte[] header = Hex($"{oversized:x8} 00000005 01 00");
        await pipe.Writer.WriteAsync(header);
        byte[] chunk = new byte[64 * 1024];
        for (long sent = 0; sent < oversized; sent += chunk.Length)
        {
            await pipe.Writer.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, oversized - sent)));
        }

        byte[] next = TtrpcBytes(7, TtrpcMessageType.Request, new Request { Method = "after" });
        await pipe.Writer.WriteAsync(next);
        await pipe.Writer.CompleteAsync();
        await reading.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal([5u], sink.Oversized);
        Assert.Equal(["after"], sink.Messages.Select(m => Request.Parser.ParseFrom(m).Method));
    }

    [Fact]
    public async Task EndOfStreamInsideAMessageIsAProtocolError()
    {
        var pipe = new System.IO.Pipelines.Pipe();
        await pipe.Writer.WriteAsync(Hex("00000064 00000001 01 00 0102"));
        await pipe.Writer.CompleteAsync();

        var error = await Assert.ThrowsAsync<NriProtocolException>(() => TtrpcFrameReader.ReadAllAsync(pipe.Reader, new CollectingSink(), CancellationToken.None));
        Assert.Contains("ended inside a ttrpc message", error.Message, StringComparison.Ordinal);
    }

    private static (byte[] Stream, Request[] Connection1, Response Connection2) BuildTrunkStream()
    {
        var big = new Request { Service = "s", Method = "Big", Payload = ByteString.CopyFrom(Enumerable.Range(0, 9000).Select(i => (byte)i).ToArray()), TimeoutNano = 5 };
        var small = new Request { Service = "s", Method = "Small" };
        var reply = new Response { Payload = ByteString.CopyFromUtf8("reply") };
        byte[] logical1 = [.. TtrpcBytes(1, TtrpcMessageType.Request, big), .. TtrpcBytes(3, TtrpcMessageType.Request, small)];
        byte[] logical2 = TtrpcBytes(1, TtrpcMessageType.Response, reply);

        var writer = new ArrayBufferWriter<byte>();
        MuxFrame.WriteFrames(1, logical1.AsSpan(0, 4), writer);            // cut inside the first ttrpc header
        MuxFrame.WriteFrames(7, Hex("deadbeef"), writer);                  // nobody opened connection 7
        MuxFrame.WriteFrames(2, logical2, writer);
        MuxFrame.WriteFrames(1, logical1.AsSpan(4), writer);               // the rest, as ≤4096-byte frames
        return (writer.WrittenSpan.ToArray(), [big, small], reply);
    }

    private static async Task<(List<Request>, List<Response>)> ReceiveAsync(byte[][] chunks)
    {
        var trunk = new MuxTrunk(new ChunkedStream(chunks), NullLogger.Instance);
        MuxConnection c1 = trunk.Open(1);
        MuxConnection c2 = trunk.Open(2);
        var sink1 = new CollectingSink();
        var sink2 = new CollectingSink();
        trunk.Start();
        await Task.WhenAll(
            TtrpcFrameReader.ReadAllAsync(c1.Input, sink1, CancellationToken.None),
            TtrpcFrameReader.ReadAllAsync(c2.Input, sink2, CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(15));
        await trunk.DisposeAsync();
        return (sink1.Messages.Select(m => Request.Parser.ParseFrom(m)).ToList(), sink2.Messages.Select(m => Response.Parser.ParseFrom(m)).ToList());
    }

    private sealed class CollectingSink : ITtrpcFrameSink
    {
        public List<byte[]> Messages { get; } = [];

        public List<uint> Oversized { get; } = [];

        public void OnMessage(in TtrpcHeader header, in ReadOnlySequence<byte> payload) => Messages.Add(payload.ToArray());

        public void OnOversizedMessage(in TtrpcHeader header) => Oversized.Add(header.StreamId);
    }

    /// <summary>A read-only stream that returns exactly the given chunks, one per read, then EOF.</summary>
    private sealed class ChunkedStream(byte[][] chunks) : Stream
    {
        private int _index;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            while (_index < chunks.Length && chunks[_index].Length == 0)
            {
                _index++;
            }

            if (_index == chunks.Length)
            {
                return 0;
            }

            byte[] chunk = chunks[_index++];
            if (chunk.Length > buffer.Length)
            {
                throw new InvalidOperationException("test chunk larger than the reader's buffer");
            }

            chunk.CopyTo(buffer);
            return chunk.Length;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
