using System.Buffers;
using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc.Wire;

namespace SeccompEbpf.Nri.Ttrpc;

/// <summary>
/// A unary ttrpc client on one logical mux connection. Stream IDs are odd, start at 1 and increase by 2;
/// each is allocated inside the trunk's write lock so IDs reach the wire in increasing order.
/// </summary>
internal sealed class TtrpcClient : ITtrpcFrameSink
{
    private static readonly Action<PendingCall, IBufferWriter<byte>> s_writeRequest = static (call, output) => call.Client.WriteRequest(call, output);

    private readonly MuxConnection _connection;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<uint, PendingCall> _pending = new();
    private uint _nextStreamId = 1;
    private volatile Exception? _closedReason;

    public TtrpcClient(MuxConnection connection, ILogger logger)
    {
        _connection = connection;
        _logger = logger;
    }

    /// <summary>Reads responses until the connection ends, then fails every pending call.</summary>
    public async Task RunAsync()
    {
        Exception reason;
        try
        {
            await TtrpcFrameReader.ReadAllAsync(_connection.Input, this, CancellationToken.None).ConfigureAwait(false);
            reason = new NriConnectionException("the NRI connection closed");
        }
        catch (NriProtocolException ex)
        {
            _connection.Trunk.Close(ex);
            reason = ex;
        }
        catch (Exception ex)
        {
            reason = new NriConnectionException($"ttrpc client on mux connection {_connection.Id} failed: {ex.Message}", ex);
            _connection.Trunk.Close(reason);
        }
        finally
        {
            await _connection.Input.CompleteAsync().ConfigureAwait(false);
        }

        _closedReason = reason;
        foreach (uint streamId in _pending.Keys)
        {
            if (_pending.TryRemove(streamId, out PendingCall? call))
            {
                call.TrySetException(new NriConnectionException($"the NRI connection closed before {call.Request.Method} was answered", reason));
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="service"/>/<paramref name="method"/>. Only a non-OK status sent by the peer throws
    /// <see cref="NriStatusException"/>; local faults are <see cref="TimeoutException"/>, <see cref="NriConnectionException"/>
    /// or <see cref="NriProtocolException"/> (undecodable or oversized reply).
    /// <paramref name="timeout"/> goes on the wire as timeout_nano; <paramref name="replyWait"/> (default: the same)
    /// is how long this side waits for the reply. With <paramref name="announceTimeout"/> false, timeout_nano is left
    /// out of the envelope (the RegisterPlugin bytes captured from a working plugin have none).
    /// </summary>
    public async Task<TResponse> CallAsync<TResponse>(string service, string method, IMessage request, MessageParser<TResponse> parser, TimeSpan timeout, CancellationToken ct, TimeSpan? replyWait = null, bool announceTimeout = true)
        where TResponse : IMessage<TResponse>
    {
        var call = new PendingCall(this, new Request
        {
            Service = service,
            Method = method,
            Payload = request.ToByteString(),
            TimeoutNano = announceTimeout ? timeout.Ticks * 100 : 0,
        });

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _connection.Trunk.ClosingToken);
        TimeSpan wait = replyWait ?? timeout;
        deadline.CancelAfter(wait);
        try
        {
            await _connection.WriteAsync(call, s_writeRequest, deadline.Token).ConfigureAwait(false);
            if (_closedReason is { } closed)
            {
                throw new NriConnectionException("the NRI connection is closed", closed);
            }

            Response response = await call.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
            if (response.Status is { Code: not 0 } status)
            {
                throw new NriStatusException((NriStatusCode)status.Code, status.Message);
            }

            return parser.ParseFrom(response.Payload);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            if (_connection.Trunk.IsClosed)
            {
                throw new NriConnectionException($"the NRI connection closed before {method} was answered", _connection.Trunk.Closed.IsCompleted ? _connection.Trunk.Closed.Result : null);
            }

            throw new TimeoutException($"{service}/{method}: no reply within {wait.TotalMilliseconds:0} ms");
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new NriProtocolException($"{service}/{method}: the reply payload is not a {typeof(TResponse).Name}: {ex.Message}");
        }
        finally
        {
            if (call.StreamId != 0)
            {
                _pending.TryRemove(call.StreamId, out _);
            }
        }
    }

    // Runs under the trunk's write lock.
    private void WriteRequest(PendingCall call, IBufferWriter<byte> output)
    {
        uint streamId = _nextStreamId;
        TtrpcFrame.WriteMessage(output, streamId, TtrpcMessageType.Request, call.Request);
        _nextStreamId += 2;
        call.StreamId = streamId;
        _pending[streamId] = call;
    }

    void ITtrpcFrameSink.OnMessage(in TtrpcHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.Type != TtrpcMessageType.Response)
        {
            throw new NriProtocolException(
                $"ttrpc client on mux connection {_connection.Id} got message type 0x{(byte)header.Type:x2} on stream {header.StreamId}; only responses (0x02) are valid");
        }

        if (!_pending.TryRemove(header.StreamId, out PendingCall? call))
        {
            _logger.LogWarning("Received ttrpc response on inactive stream {StreamId}; dropped", header.StreamId);
            return;
        }

        Response response;
        try
        {
            response = Response.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            // An undecodable envelope means the peer's framing cannot be trusted any more.
            var error = new NriProtocolException($"undecodable ttrpc response on stream {header.StreamId}: {ex.Message}");
            call.TrySetException(error);
            throw error;
        }

        call.TrySetResult(response);
    }

    void ITtrpcFrameSink.OnOversizedMessage(in TtrpcHeader header)
    {
        _logger.LogWarning("Discarded a {Length}-byte ttrpc response on stream {StreamId}: over the {Limit}-byte limit", header.Length, header.StreamId, TtrpcFrame.MaxMessageLength);
        if (_pending.TryRemove(header.StreamId, out PendingCall? call))
        {
            call.TrySetException(new NriProtocolException($"the {call.Request.Method} reply is {header.Length} bytes, over the {TtrpcFrame.MaxMessageLength}-byte ttrpc limit"));
        }
    }

    private sealed class PendingCall(TtrpcClient client, Request request) : TaskCompletionSource<Response>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public TtrpcClient Client { get; } = client;

        public Request Request { get; } = request;

        public uint StreamId { get; set; }
    }
}
