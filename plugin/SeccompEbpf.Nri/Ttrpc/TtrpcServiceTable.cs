using Google.Protobuf;

namespace SeccompEbpf.Nri.Ttrpc;

/// <summary>One unary method: decodes its request from the payload, runs, and returns the response message.</summary>
internal delegate ValueTask<IMessage> TtrpcMethod(ByteString payload, CancellationToken ct);

/// <summary>The services a <see cref="TtrpcServer"/> dispatches to, by fully qualified service name and bare method name.</summary>
internal sealed class TtrpcServiceTable
{
    private readonly Dictionary<string, Dictionary<string, TtrpcMethod>> _services = new(StringComparer.Ordinal);

    public void Add<TRequest, TResponse>(string service, string method, MessageParser<TRequest> parser, Func<TRequest, CancellationToken, ValueTask<TResponse>> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage
    {
        if (!_services.TryGetValue(service, out Dictionary<string, TtrpcMethod>? methods))
        {
            methods = new Dictionary<string, TtrpcMethod>(StringComparer.Ordinal);
            _services.Add(service, methods);
        }

        methods.Add(method, async (payload, ct) =>
        {
            TRequest request;
            try
            {
                request = parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new NriStatusException(NriStatusCode.InvalidArgument, $"unmarshal {method} request: {ex.Message}");
            }

            return await handler(request, ct).ConfigureAwait(false);
        });
    }

    /// <summary>Finds a method, or gives the Unimplemented text Go's ttrpc uses ("service X" / "method X").</summary>
    public bool TryGet(string service, string method, out TtrpcMethod? handler, out string unimplemented)
    {
        handler = null;
        if (!_services.TryGetValue(service, out Dictionary<string, TtrpcMethod>? methods))
        {
            unimplemented = $"service {service}";
            return false;
        }

        if (!methods.TryGetValue(method, out handler))
        {
            unimplemented = $"method {method}";
            return false;
        }

        unimplemented = "";
        return true;
    }
}
