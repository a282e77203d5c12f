using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Nri.Testing;

/// <summary>
/// A runtime listening on an NRI socket in a short temporary directory (unix socket paths are limited to
/// 108 bytes, so no deep test temp dirs). Accepts plugin connections as <see cref="FakeRuntimeConnection"/>s.
/// </summary>
internal sealed class FakeNriRuntime : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly string _directory;
    private readonly List<FakeRuntimeConnection> _connections = [];
    private Socket? _listener;

    private FakeNriRuntime(ILogger logger)
    {
        _logger = logger;
        _directory = Path.Combine("/tmp", "nri-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
        SocketPath = Path.Combine(_directory, "nri.sock");
    }

    public string SocketPath { get; }

    /// <summary>Creates the runtime; it listens unless <paramref name="listen"/> is false.</summary>
    public static FakeNriRuntime Create(ILogger logger, bool listen = true)
    {
        var runtime = new FakeNriRuntime(logger);
        if (listen)
        {
            runtime.Listen();
        }

        return runtime;
    }

    /// <summary>Listens on <see cref="SocketPath"/>, replacing a stale socket file as containerd does.</summary>
    public void Listen()
    {
        File.Delete(SocketPath);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(8);
        _listener = listener;
    }

    /// <summary>Stops listening but leaves the socket file, like a stopped containerd (connect then gives ECONNREFUSED).</summary>
    public void StopListening()
    {
        _listener?.Dispose();
        _listener = null;

        // .NET unlinks the path it bound when the listener is disposed; containerd leaves it. Recreate a dead one.
        if (!File.Exists(SocketPath))
        {
            string temporary = SocketPath + ".stale";
            using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            stale.Bind(new UnixDomainSocketEndPoint(temporary));
            File.Move(temporary, SocketPath);
        }
    }

    /// <summary>Accepts the next plugin connection; <paramref name="setup"/> runs before the connection starts serving.</summary>
    public async Task<FakeRuntimeConnection> AcceptAsync(Action<FakeRuntimeConnection>? setup = null, CancellationToken ct = default)
    {
        Socket listener = _listener ?? throw new InvalidOperationException("not listening");
        Socket socket = await listener.AcceptAsync(ct).ConfigureAwait(false);
        var connection = new FakeRuntimeConnection(socket, _logger);
        setup?.Invoke(connection);
        connection.Start();
        lock (_connections)
        {
            _connections.Add(connection);
        }

        return connection;
    }

    /// <summary>Accepts the next connection as a raw socket (for byte-level tests).</summary>
    public async Task<Socket> AcceptRawAsync(CancellationToken ct = default)
    {
        Socket listener = _listener ?? throw new InvalidOperationException("not listening");
        return await listener.AcceptAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        StopListening();
        FakeRuntimeConnection[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        foreach (FakeRuntimeConnection connection in connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
