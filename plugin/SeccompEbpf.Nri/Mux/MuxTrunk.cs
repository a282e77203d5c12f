using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Nri.Mux;

/// <summary>
/// Owns the trunk stream (a unix socket) and multiplexes logical connections over it: one read loop
/// reassembles payloads per connection ID into pipes (frames for unopened IDs are dropped), and one
/// lock serializes every write so a header and its payload are never interleaved.
/// </summary>
internal sealed class MuxTrunk : IAsyncDisposable
{
    // Logical messages larger than this keep their buffers alive; shrink back after such a write.
    private const int RetainedBufferLimit = 64 * 1024;

    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<uint, MuxConnection> _connections = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource<Exception> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _closing = new();
    private ArrayBufferWriter<byte> _logical = new(MuxFrame.MaxOutgoingPayload);
    private ArrayBufferWriter<byte> _framed = new(MuxFrame.MaxOutgoingPayload + MuxFrame.HeaderLength);
    private Task _readLoop = Task.CompletedTask;
    private int _closeStarted;

    /// <summary>Wraps <paramref name="stream"/>; the trunk disposes it when closed.</summary>
    public MuxTrunk(Stream stream, ILogger logger)
    {
        _stream = stream;
        _logger = logger;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
    }

    /// <summary>Completes with the reason once the trunk is closed (EOF, protocol error, I/O error or local close).</summary>
    public Task<Exception> Closed => _closed.Task;

    /// <summary>Cancelled when the trunk starts closing.</summary>
    public CancellationToken ClosingToken => _closing.Token;

    public bool IsClosed => Volatile.Read(ref _closeStarted) != 0;

    /// <summary>Opens a logical connection. Call before <see cref="Start"/>; frames for IDs never opened are dropped.</summary>
    public MuxConnection Open(uint id)
    {
        if (id == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(id), "mux connection ID 0 is reserved");
        }

        var connection = new MuxConnection(this, id);
        if (!_connections.TryAdd(id, connection))
        {
            throw new InvalidOperationException($"mux connection {id} is already open");
        }

        return connection;
    }

    /// <summary>Starts the read loop.</summary>
    public void Start() => _readLoop = Task.Run(ReadLoopAsync);

    /// <summary>Closes the trunk; the first reason wins and is logged once.</summary>
    public void Close(Exception reason)
    {
        if (Interlocked.Exchange(ref _closeStarted, 1) != 0)
        {
            return;
        }

        if (reason is NriProtocolException)
        {
            _logger.LogWarning("Closing NRI connection: protocol error: {Reason}", reason.Message);
        }
        else
        {
            _logger.LogInformation("Closing NRI connection: {Reason}", reason.Message);
        }

        _closing.Cancel();
        try
        {
            _stream.Dispose();
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Disposing the NRI trunk stream failed");
        }

        _closed.TrySetResult(reason);
    }

    public async ValueTask DisposeAsync()
    {
        Close(new NriConnectionException("the plugin closed the connection"));
        // The lock and the token source stay undisposed: late writers and handlers must see "closed", not ObjectDisposedException.
        await _readLoop.ConfigureAwait(false);
    }

    internal async ValueTask WriteAsync<TState>(uint connectionId, TState state, Action<TState, IBufferWriter<byte>> fill, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            _logical.ResetWrittenCount();
            _framed.ResetWrittenCount();
            fill(state, _logical);
            MuxFrame.WriteFrames(connectionId, _logical.WrittenSpan, _framed);

            // Never abandon a half-written frame: cancellation is honoured only while waiting for the lock.
            await _stream.WriteAsync(_framed.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
            await _stream.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            var reason = new NriConnectionException($"writing to the NRI connection failed: {ex.Message}", ex);
            Close(reason);
            throw reason;
        }
        finally
        {
            if (_logical.Capacity > RetainedBufferLimit)
            {
                _logical = new ArrayBufferWriter<byte>(MuxFrame.MaxOutgoingPayload);
                _framed = new ArrayBufferWriter<byte>(MuxFrame.MaxOutgoingPayload + MuxFrame.HeaderLength);
            }

            _writeLock.Release();
        }
    }

    private void ThrowIfClosed()
    {
        if (IsClosed)
        {
            throw new NriConnectionException("the NRI connection is closed", _closed.Task.IsCompleted ? _closed.Task.Result : null);
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception reason;
        try
        {
            reason = await ReadFramesAsync().ConfigureAwait(false);
        }
        catch (NriProtocolException ex)
        {
            reason = ex;
        }
        catch (Exception ex) when (IsClosed)
        {
            reason = new NriConnectionException("the NRI connection was closed locally", ex);
        }
        catch (Exception ex)
        {
            reason = new NriConnectionException($"reading from the NRI connection failed: {ex.Message}", ex);
        }

        Close(reason);
        await _input.CompleteAsync().ConfigureAwait(false);
        foreach (MuxConnection connection in _connections.Values)
        {
            // EOF or an error for the ttrpc readers; they end their loops on it.
            await connection.Pipe.Writer.CompleteAsync(reason is NriProtocolException ? reason : null).ConfigureAwait(false);
        }
    }

    private async Task<Exception> ReadFramesAsync()
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(_closing.Token).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            try
            {
                while (MuxFrame.TryReadFrame(ref buffer, out uint connectionId, out ReadOnlySequence<byte> payload))
                {
                    if (!_connections.TryGetValue(connectionId, out MuxConnection? connection))
                    {
                        _logger.LogDebug("Dropping {Length} bytes for unopened mux connection {ConnectionId}", payload.Length, connectionId);
                        continue;
                    }

                    PipeWriter writer = connection.Pipe.Writer;
                    foreach (ReadOnlyMemory<byte> segment in payload)
                    {
                        writer.Write(segment.Span);
                    }

                    FlushResult flush = await writer.FlushAsync(_closing.Token).ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        // The logical reader stopped (it closed the trunk); nothing more to deliver.
                        _connections.TryRemove(connectionId, out _);
                    }
                }

                if (result.IsCompleted)
                {
                    return buffer.IsEmpty
                        ? new NriConnectionException("the peer closed the connection")
                        : new NriProtocolException($"the peer closed the connection inside a mux frame ({buffer.Length} bytes of it received)");
                }
            }
            finally
            {
                _input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }
}
