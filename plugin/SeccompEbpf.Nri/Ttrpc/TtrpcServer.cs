using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc.Wire;

namespace SeccompEbpf.Nri.Ttrpc;

/// <summary>
/// A unary ttrpc server on one logical mux connection. Every request runs in its own task with a deadline
/// taken from <c>timeout_nano</c>; replies may go out in any order and are matched by stream ID.
/// Per-request faults (bad stream ID, undecodable envelope, oversized message) are answered on that stream;
/// framing faults close the whole trunk.
/// </summary>
internal sealed class TtrpcServer : ITtrpcFrameSink
{
    private static readonly Action<(uint StreamId, Response Response), IBufferWriter<byte>> s_writeResponse =
        static (state, output) => TtrpcFrame.WriteMessage(output, state.StreamId, TtrpcMessageType.Response, state.Response);

    private readonly MuxConnection _connection;
    private readonly TtrpcServiceTable _services;
    private readonly ILogger _logger;
    private uint _lastStreamId;
    private int _activeRequests;

    public TtrpcServer(MuxConnection connection, TtrpcServiceTable services, ILogger logger)
    {
        _connection = connection;
        _services = services;
        _logger = logger;
    }

    /// <summary>Raised after a response was written and no other request is in flight.</summary>
    public event Action? Idle;

    /// <summary>Requests received whose response has not been written yet.</summary>
    public int ActiveRequests => Volatile.Read(ref _activeRequests);

    /// <summary>Serves until the connection ends; a framing fault closes the trunk with the reason.</summary>
    public async Task RunAsync()
    {
        try
        {
            await TtrpcFrameReader.ReadAllAsync(_connection.Input, this, CancellationToken.None).ConfigureAwait(false);
        }
        catch (NriProtocolException ex)
        {
            _connection.Trunk.Close(ex);
        }
        catch (Exception ex)
        {
            _connection.Trunk.Close(new NriConnectionException($"ttrpc server on mux connection {_connection.Id} failed: {ex.Message}", ex));
        }
        finally
        {
            await _connection.Input.CompleteAsync().ConfigureAwait(false);
        }
    }

    void ITtrpcFrameSink.OnMessage(in TtrpcHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.Type != TtrpcMessageType.Request)
        {
            throw new NriProtocolException(
                $"ttrpc server on mux connection {_connection.Id} got message type 0x{(byte)header.Type:x2} on stream {header.StreamId}; only requests (0x01) are valid");
        }

        if (!TryAcceptStreamId(header.StreamId))
        {
            return;
        }

        Request request;
        try
        {
            request = Request.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            _logger.LogWarning("Rejecting ttrpc request on stream {StreamId}: undecodable envelope: {Error}", header.StreamId, ex.Message);
            Reject(header.StreamId, NriStatusCode.InvalidArgument, $"unmarshal request error: {ex.Message}");
            return;
        }

        Interlocked.Increment(ref _activeRequests);
        uint streamId = header.StreamId;

        // One task per request, so a slow handler never stalls the read loop.
        _ = Task.Run(() => HandleAsync(streamId, request));
    }

    void ITtrpcFrameSink.OnOversizedMessage(in TtrpcHeader header)
    {
        _logger.LogWarning("Rejecting ttrpc message on stream {StreamId}: {Length} bytes exceed the {Limit}-byte limit", header.StreamId, header.Length, TtrpcFrame.MaxMessageLength);
        if (header.Type == TtrpcMessageType.Request && header.StreamId % 2 == 1 && header.StreamId > _lastStreamId)
        {
            _lastStreamId = header.StreamId;
        }

        Reject(header.StreamId, NriStatusCode.ResourceExhausted, $"message length {header.Length} exceed maximum message size of {TtrpcFrame.MaxMessageLength}");
    }

    private bool TryAcceptStreamId(uint streamId)
    {
        if (streamId % 2 != 1)
        {
            _logger.LogWarning("Rejecting ttrpc request: stream ID {StreamId} is even", streamId);
            Reject(streamId, NriStatusCode.InvalidArgument, "StreamID must be odd for client initiated streams");
            return false;
        }

        if (streamId <= _lastStreamId)
        {
            _logger.LogWarning("Rejecting ttrpc request: stream ID {StreamId} is not above the last one ({LastStreamId})", streamId, _lastStreamId);
            Reject(streamId, NriStatusCode.InvalidArgument, "StreamID cannot be re-used and must increment");
            return false;
        }

        _lastStreamId = streamId;
        return true;
    }

    private void Reject(uint streamId, NriStatusCode code, string message)
    {
        Interlocked.Increment(ref _activeRequests);
        _ = SendAsync(streamId, new Response { Status = TtrpcStatusMapper.New(code, message) }, "(rejected)");
    }

    private async Task HandleAsync(uint streamId, Request request)
    {
        Response response;
        if (!_services.TryGet(request.Service, request.Method, out TtrpcMethod? method, out string unimplemented))
        {
            _logger.LogDebug("Unimplemented ttrpc method /{Service}/{Method} (stream {StreamId})", request.Service, request.Method, streamId);
            response = new Response { Status = TtrpcStatusMapper.New(NriStatusCode.Unimplemented, unimplemented) };
        }
        else
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_connection.Trunk.ClosingToken);
            TimeSpan? timeout = null;
            if (request.TimeoutNano > 0)
            {
                timeout = TimeSpan.FromTicks(Math.Max(1, request.TimeoutNano / 100));
                deadline.CancelAfter(timeout.Value);
            }

            // Flows into the handler (this method's own async context: it reverts when the method returns).
            NriRequestDeadline.Set(timeout);

            try
            {
                IMessage result = await method!(request.Payload, deadline.Token).ConfigureAwait(false);
                response = new Response { Payload = result.ToByteString() };
            }
            catch (Exception ex)
            {
                bool deadlinePassed = deadline.IsCancellationRequested && !_connection.Trunk.ClosingToken.IsCancellationRequested;
                Status status = TtrpcStatusMapper.ToStatus(ex, deadlinePassed);
                LogFailure(request.Method, streamId, status, ex);
                response = new Response { Status = status };
            }
        }

        await SendAsync(streamId, response, request.Method).ConfigureAwait(false);
    }

    private void LogFailure(string method, uint streamId, Status status, Exception ex)
    {
        if (ex is NriVetoException or NriStatusException or OperationCanceledException)
        {
            _logger.LogInformation("{Method} (stream {StreamId}) answered {Code}: {Message}", method, streamId, (NriStatusCode)status.Code, status.Message);
        }
        else
        {
            _logger.LogError(ex, "{Method} (stream {StreamId}) failed; answered {Code}", method, streamId, (NriStatusCode)status.Code);
        }
    }

    private async Task SendAsync(uint streamId, Response response, string method)
    {
        try
        {
            try
            {
                await _connection.WriteAsync((streamId, response), s_writeResponse, CancellationToken.None).ConfigureAwait(false);
            }
            catch (NriStatusException ex) when (ex.Code == NriStatusCode.ResourceExhausted)
            {
                _logger.LogError("{Method} (stream {StreamId}): the response is too large to send: {Message}", method, streamId, ex.Message);
                var error = new Response { Status = TtrpcStatusMapper.New(NriStatusCode.ResourceExhausted, ex.Message) };
                await _connection.WriteAsync((streamId, error), s_writeResponse, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (NriConnectionException ex)
        {
            _logger.LogDebug("{Method} (stream {StreamId}): connection closed before the response was sent: {Message}", method, streamId, ex.Message);
        }
        finally
        {
            if (Interlocked.Decrement(ref _activeRequests) == 0)
            {
                Idle?.Invoke();
            }
        }
    }
}
