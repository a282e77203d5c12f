using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>
/// An NRI plugin. The handler object may implement any of the <c>I…Handler</c> interfaces; it is subscribed to
/// exactly the events it handles (limited to what the runtime knows). <see cref="RunAsync"/> connects,
/// registers and serves; in external mode it reconnects with backoff until cancelled.
/// </summary>
public sealed class NriPlugin : IAsyncDisposable
{
    private readonly NriHandlerSet _handlers;
    private readonly NriPluginOptions _options;
    private readonly ILogger<NriPlugin> _logger;
    private readonly CancellationTokenSource _disposed = new();
    private volatile NriSession? _session;
    private volatile NriRuntimeInfo? _runtime;
    private int _running;
    private bool _inheritedSocketUsed;

    /// <summary>Creates the plugin; throws <see cref="ArgumentException"/> for an invalid name, index or socket setting.</summary>
    public NriPlugin(object handlers, NriPluginOptions options, ILogger<NriPlugin> logger)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        _handlers = new NriHandlerSet(handlers);
        _options = options;
        _logger = logger;
    }

    /// <summary>Raised on every connection step; handlers run on the connection's threads and must not block.</summary>
    public event Action<NriConnectionState>? StateChanged;

    /// <summary>The runtime that configured the current connection; null while not configured.</summary>
    public NriRuntimeInfo? Runtime => _runtime;

    /// <summary>The events the handler object implements (before masking with what the runtime knows).</summary>
    public int HandledEvents => _handlers.HandledEvents;

    /// <summary>
    /// Connects (socket path, or the inherited fd), registers and serves. External mode: reconnects with backoff
    /// after any disconnect until <paramref name="ct"/> is cancelled, then returns. Pre-installed mode: returns when
    /// the connection closes (the runtime relaunches the plugin). A rejected registration throws
    /// <see cref="NriRegistrationException"/> in both modes.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            throw new InvalidOperationException("RunAsync is already running");
        }

        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, _disposed.Token);
            if (_options.InheritedSocketFd is { } fd)
            {
                await RunInheritedAsync(fd, stop.Token).ConfigureAwait(false);
            }
            else
            {
                await RunExternalAsync(_options.SocketPath, stop.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>
    /// Sends UpdateContainers to the runtime and returns the updates it could not apply. Called from inside an
    /// event handler, the request is queued and sent right after the handler returned (awaiting it there would
    /// deadlock the runtime), and an empty list is returned at once; failures are then logged. Called while
    /// another handler runs, it waits until no handler runs. Throws <see cref="NriConnectionException"/> when
    /// not connected, <see cref="NriStatusException"/> when the runtime answers with an error and
    /// <see cref="TimeoutException"/> when it does not answer within <see cref="NriPluginOptions.RuntimeCallTimeout"/>.
    /// </summary>
    public ValueTask<IReadOnlyList<ContainerUpdate>> UpdateContainersAsync(IReadOnlyList<ContainerUpdate> updates, IReadOnlyList<ContainerEviction> evictions, CancellationToken ct)
    {
        NriSession session = _session ?? throw new NriConnectionException("not connected to the NRI runtime");
        var request = new UpdateContainersRequest();
        request.Update.AddRange(updates);
        request.Evict.AddRange(evictions);
        return session.UpdateContainersAsync(request, ct);
    }

    /// <summary>Closes the current connection and stops <see cref="RunAsync"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        _disposed.Cancel();
        if (_session is { } session)
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal void OnConfigured(NriRuntimeInfo runtime, int mask)
    {
        _runtime = runtime;
        Raise(new NriConnectionState.Registered(runtime, mask));
    }

    internal void OnSynchronized(int pods, int containers) => Raise(new NriConnectionState.Synchronized(pods, containers));

    private async Task RunInheritedAsync(int fd, CancellationToken ct)
    {
        if (_inheritedSocketUsed)
        {
            throw new InvalidOperationException($"the inherited NRI socket (fd {fd}) was already used and closed; a pre-installed plugin cannot reconnect");
        }

        _inheritedSocketUsed = true;
        Raise(new NriConnectionState.Connecting($"fd {fd}"));
        try
        {
            Interop.Fcntl.SetCloseOnExec(fd);
        }
        catch (IOException ex)
        {
            _logger.LogWarning("Could not mark the inherited NRI socket close-on-exec: {Error}", ex.Message);
        }

        Socket socket;
        try
        {
            socket = new Socket(new SafeSocketHandle((IntPtr)fd, ownsHandle: true));
        }
        catch (SocketException ex)
        {
            throw new NriConnectionException($"inherited NRI socket fd {fd} is not a usable socket: {ex.SocketErrorCode} ({ex.Message})", ex);
        }

        Exception reason = await RunSessionAsync(socket, ct).ConfigureAwait(false);
        _logger.LogInformation("Pre-installed NRI connection ended ({Reason}); the runtime relaunches the plugin if needed", reason.Message);
    }

    private async Task RunExternalAsync(string path, CancellationToken ct)
    {
        TimeSpan delay = _options.ReconnectInitialDelay;
        string? lastFailure = null;
        while (!ct.IsCancellationRequested)
        {
            Raise(new NriConnectionState.Connecting(path));
            Socket? socket = null;
            try
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                socket?.Dispose();
                socket = null;

                // A socket file left by a stopped runtime refuses connections; that is the normal "not up yet".
                string reason = ex.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => $"the runtime is not listening on {path} (ConnectionRefused)",
                    SocketError.AddressNotAvailable => $"no socket at {path} (the runtime is not running or NRI is disabled)",
                    _ => $"connect to {path} failed: {ex.SocketErrorCode} ({ex.Message})",
                };
                // Log a new reason once at Information; the same reason again (runtime down for a while) only at Debug.
                _logger.Log(reason == lastFailure ? LogLevel.Debug : LogLevel.Information, "NRI runtime not reachable: {Reason}; retrying in {Delay}", reason, delay);
                lastFailure = reason;
                Raise(new NriConnectionState.Disconnected(reason, ex));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                socket?.Dispose();
                return;
            }

            if (socket is not null)
            {
                lastFailure = null;
                bool registered;
                (registered, _) = await RunSessionAndReportAsync(socket, ct).ConfigureAwait(false);
                if (ct.IsCancellationRequested)
                {
                    return;
                }

                if (registered)
                {
                    delay = _options.ReconnectInitialDelay;
                }

                _logger.LogInformation("Reconnecting to the NRI runtime in {Delay}", delay);
            }

            try
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
        }
    }

    private async Task<(bool Registered, Exception Reason)> RunSessionAndReportAsync(Socket socket, CancellationToken ct)
    {
        var session = new NriSession(this, _handlers, _options, new NetworkStream(socket, ownsSocket: true), _logger);
        _session = session;
        Exception reason;
        try
        {
            reason = await session.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            reason = new NriConnectionException("the plugin is stopping");
        }
        catch (NriRegistrationException ex)
        {
            _logger.LogError("NRI registration rejected: {Message}", ex.Message);
            await EndSessionAsync(session, ex).ConfigureAwait(false);
            throw;
        }

        await EndSessionAsync(session, reason).ConfigureAwait(false);
        return (session.IsRegistered, reason);
    }

    private async Task<Exception> RunSessionAsync(Socket socket, CancellationToken ct)
        => (await RunSessionAndReportAsync(socket, ct).ConfigureAwait(false)).Reason;

    private async Task EndSessionAsync(NriSession session, Exception reason)
    {
        _session = null;
        _runtime = null;
        await session.DisposeAsync().ConfigureAwait(false);
        Raise(new NriConnectionState.Disconnected(reason.Message, reason));
    }

    private void Raise(NriConnectionState state)
    {
        try
        {
            StateChanged?.Invoke(state);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "A StateChanged handler threw on {State}", state);
        }
    }
}
