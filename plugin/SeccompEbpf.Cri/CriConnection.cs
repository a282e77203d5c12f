using System.Net.Sockets;
using Grpc.Net.Client;
using SeccompEbpf.Cri.V1;

namespace SeccompEbpf.Cri;

/// <summary>A gRPC channel to a container runtime's CRI endpoint on a unix socket.</summary>
public sealed class CriConnection : IDisposable
{
    private readonly GrpcChannel _channel;

    /// <summary>Opens a channel to the CRI endpoint at <paramref name="socketPath"/> (no I/O until the first call).</summary>
    public CriConnection(string socketPath)
    {
        SocketPath = socketPath;
        var handler = new SocketsHttpHandler
        {
            // gRPC needs an http:// address; every connection actually goes to the unix socket.
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
        Images = new ImageService.ImageServiceClient(_channel);
    }

    /// <summary>The unix socket this connection talks to.</summary>
    public string SocketPath { get; }

    /// <summary>The runtime.v1.RuntimeService client.</summary>
    public RuntimeService.RuntimeServiceClient Runtime { get; }

    /// <summary>The runtime.v1.ImageService client.</summary>
    public ImageService.ImageServiceClient Images { get; }

    /// <inheritdoc/>
    public void Dispose() => _channel.Dispose();
}
