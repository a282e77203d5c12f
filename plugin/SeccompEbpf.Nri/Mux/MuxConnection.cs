using System.Buffers;
using System.IO.Pipelines;

namespace SeccompEbpf.Nri.Mux;

/// <summary>One logical connection of a <see cref="MuxTrunk"/>: its reassembled input stream and a way to write to it.</summary>
internal sealed class MuxConnection
{
    // No back-pressure: the ttrpc reader above enforces the 4 MiB message limit, and stalling the trunk
    // for one slow logical connection would also stall the other.
    private static readonly PipeOptions s_pipeOptions = new(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false);

    internal MuxConnection(MuxTrunk trunk, uint id)
    {
        Trunk = trunk;
        Id = id;
        Pipe = new Pipe(s_pipeOptions);
    }

    public uint Id { get; }

    public MuxTrunk Trunk { get; }

    /// <summary>The logical byte stream, reassembled from the payloads of every frame carrying this ID.</summary>
    public PipeReader Input => Pipe.Reader;

    internal Pipe Pipe { get; }

    /// <summary>
    /// Runs <paramref name="fill"/> under the trunk's write lock and sends what it wrote as frames on this connection.
    /// Whatever <paramref name="fill"/> decides (e.g. a stream ID) is therefore ordered exactly as the bytes on the wire.
    /// </summary>
    public ValueTask WriteAsync<TState>(TState state, Action<TState, IBufferWriter<byte>> fill, CancellationToken ct)
        => Trunk.WriteAsync(Id, state, fill, ct);
}
