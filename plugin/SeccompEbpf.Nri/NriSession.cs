using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc;

namespace SeccompEbpf.Nri;

/// <summary>
/// One connection to the runtime: the trunk, the plugin service on connection 1, the runtime client on
/// connection 2, the registration, and the per-connection protocol state (split Synchronize, queued updates).
/// </summary>
internal sealed partial class NriSession : IAsyncDisposable
{
    public const string PluginService = "nri.pkg.api.v1alpha1.Plugin";
    public const string RuntimeService = "nri.pkg.api.v1alpha1.Runtime";

    private readonly NriPlugin _plugin;
    private readonly NriHandlerSet _handlers;
    private readonly NriPluginOptions _options;
    private readonly ILogger _logger;
    private readonly MuxTrunk _trunk;
    private readonly TtrpcServer _server;
    private readonly TtrpcClient _client;
    private readonly ConcurrentQueue<QueuedUpdate> _queuedUpdates = new();
    private readonly object _syncLock = new();
    private List<PodSandbox> _syncPods = [];
    private List<Container> _syncContainers = [];
    private Task _serverTask = Task.CompletedTask;
    private Task _clientTask = Task.CompletedTask;
    private int _draining;

    public NriSession(NriPlugin plugin, NriHandlerSet handlers, NriPluginOptions options, Stream trunkStream, ILogger logger)
    {
        _plugin = plugin;
        _handlers = handlers;
        _options = options;
        _logger = logger;
        _trunk = new MuxTrunk(trunkStream, logger);
        MuxConnection pluginConnection = _trunk.Open(MuxFrame.PluginServiceConnection);
        MuxConnection runtimeConnection = _trunk.Open(MuxFrame.RuntimeServiceConnection);
        _server = new TtrpcServer(pluginConnection, BuildPluginService(), logger);
        _server.Idle += TryDrainQueuedUpdates;
        _client = new TtrpcClient(runtimeConnection, logger);
    }

    /// <summary>True once RegisterPlugin was answered OK.</summary>
    public bool IsRegistered { get; private set; }

    /// <summary>
    /// Serves connection 1 first (Configure may overtake the RegisterPlugin reply), registers, then waits for
    /// the connection to end and returns why. A rejected registration throws <see cref="NriRegistrationException"/>.
    /// </summary>
    public async Task<Exception> RunAsync(CancellationToken ct)
    {
        _trunk.Start();
        _serverTask = _server.RunAsync();
        _clientTask = _client.RunAsync();

        var request = new RegisterPluginRequest { PluginName = _options.Name, PluginIdx = _options.Index };
        try
        {
            await _client.CallAsync(RuntimeService, "RegisterPlugin", request, Empty.Parser, _options.RuntimeCallTimeout, ct, announceTimeout: false).ConfigureAwait(false);
        }
        catch (NriStatusException ex)
        {
            // A status from the runtime is a rejection (bad name or index). The runtime abandons the plugin
            // but keeps the socket open; closing is our job.
            var rejected = new NriRegistrationException(ex.Code, ex.Message);
            _trunk.Close(rejected);
            throw rejected;
        }
        catch (Exception ex) when (ex is TimeoutException or NriProtocolException)
        {
            Exception reason = ex as NriProtocolException ?? (Exception)new NriConnectionException($"registration failed: {ex.Message}", ex);
            _trunk.Close(reason);
            return reason;
        }
        catch (NriConnectionException ex)
        {
            return ex;
        }

        IsRegistered = true;
        _logger.LogInformation("Registered with the NRI runtime as {Index}-{Name}", _options.Index, _options.Name);
        return await _trunk.Closed.WaitAsync(ct).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<ContainerUpdate>> UpdateContainersAsync(UpdateContainersRequest request, CancellationToken ct)
    {
        if (_trunk.IsClosed)
        {
            throw new NriConnectionException("not connected to the NRI runtime");
        }

        if (HandlerScope.InsideHandler)
        {
            // Awaiting here would deadlock: the runtime answers only after this handler returned.
            _queuedUpdates.Enqueue(new QueuedUpdate(request, null));
            _logger.LogDebug("UpdateContainers called inside an event handler; queued until the handler returned");
            return ValueTask.FromResult<IReadOnlyList<ContainerUpdate>>([]);
        }

        if (_server.ActiveRequests > 0 || !_queuedUpdates.IsEmpty)
        {
            var completion = new TaskCompletionSource<IReadOnlyList<ContainerUpdate>>(TaskCreationOptions.RunContinuationsAsynchronously);
            _queuedUpdates.Enqueue(new QueuedUpdate(request, completion));
            TryDrainQueuedUpdates();
            return new ValueTask<IReadOnlyList<ContainerUpdate>>(completion.Task.WaitAsync(ct));
        }

        return SendUpdateAsync(request, ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _trunk.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_serverTask, _clientTask).ConfigureAwait(false);
        while (_queuedUpdates.TryDequeue(out QueuedUpdate? item))
        {
            item.Completion?.TrySetException(new NriConnectionException("the NRI connection closed before the queued UpdateContainers was sent"));
        }
    }

    private async ValueTask<IReadOnlyList<ContainerUpdate>> SendUpdateAsync(UpdateContainersRequest request, CancellationToken ct)
    {
        UpdateContainersResponse response = await _client.CallAsync(
            RuntimeService, "UpdateContainers", request, UpdateContainersResponse.Parser, _options.RuntimeCallTimeout, ct).ConfigureAwait(false);
        return response.Failed;
    }

    private void TryDrainQueuedUpdates()
    {
        if (_server.ActiveRequests > 0 || _queuedUpdates.IsEmpty || _trunk.IsClosed)
        {
            return;
        }

        if (Interlocked.Exchange(ref _draining, 1) == 0)
        {
            _ = Task.Run(DrainQueuedUpdatesAsync);
        }
    }

    private async Task DrainQueuedUpdatesAsync()
    {
        try
        {
            while (_server.ActiveRequests == 0 && _queuedUpdates.TryDequeue(out QueuedUpdate? item))
            {
                try
                {
                    IReadOnlyList<ContainerUpdate> failed = await SendUpdateAsync(item.Request, _trunk.ClosingToken).ConfigureAwait(false);
                    if (item.Completion is null && failed.Count > 0)
                    {
                        _logger.LogWarning("Queued UpdateContainers: the runtime failed {Count} update(s): {Containers}", failed.Count, string.Join(", ", failed.Select(f => f.ContainerId)));
                    }

                    item.Completion?.TrySetResult(failed);
                }
                catch (Exception ex)
                {
                    if (item.Completion is null)
                    {
                        _logger.LogWarning("Queued UpdateContainers failed: {Error}", ex.Message);
                    }
                    else
                    {
                        item.Completion.TrySetException(ex);
                    }
                }
            }
        }
        finally
        {
            Volatile.Write(ref _draining, 0);
        }

        // An update may have been queued between the last dequeue and the reset above.
        TryDrainQueuedUpdates();
    }

    private sealed record QueuedUpdate(UpdateContainersRequest Request, TaskCompletionSource<IReadOnlyList<ContainerUpdate>>? Completion);
}
