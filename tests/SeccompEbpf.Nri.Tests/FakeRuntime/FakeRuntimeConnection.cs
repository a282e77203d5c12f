using System.Net.Sockets;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc;

namespace SeccompEbpf.Nri.Testing;

/// <summary>
/// The runtime's side of one plugin connection, built from the library with the roles swapped:
/// a ttrpc client on connection 1 (calls the plugin) and a ttrpc server on connection 2 (RegisterPlugin, UpdateContainers).
/// Like containerd, it holds <see cref="RuntimeLock"/> while it waits for the plugin, and UpdateContainers needs that lock.
/// </summary>
internal sealed class FakeRuntimeConnection : IAsyncDisposable
{
    public const string PluginService = "nri.pkg.api.v1alpha1.Plugin";
    public const string RuntimeService = "nri.pkg.api.v1alpha1.Runtime";

    private readonly MuxTrunk _trunk;
    private readonly TtrpcClient _plugin;
    private readonly TtrpcServer _runtime;
    private readonly TaskCompletionSource<RegisterPluginRequest> _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _tasks = Task.CompletedTask;

    public FakeRuntimeConnection(Socket socket, ILogger logger)
    {
        _trunk = new MuxTrunk(new NetworkStream(socket, ownsSocket: true), logger);
        _plugin = new TtrpcClient(_trunk.Open(MuxFrame.PluginServiceConnection), logger);
        var services = new TtrpcServiceTable();
        services.Add(RuntimeService, "RegisterPlugin", RegisterPluginRequest.Parser, RegisterPluginAsync);
        services.Add(RuntimeService, "UpdateContainers", UpdateContainersRequest.Parser, UpdateContainersAsync);
        _runtime = new TtrpcServer(_trunk.Open(MuxFrame.RuntimeServiceConnection), services, logger);
    }

    /// <summary>When set, the RegisterPlugin reply is held back until this completes.</summary>
    public Task? HoldRegistrationReply { get; set; }

    /// <summary>When set, RegisterPlugin is answered with status 2 and this message (like a bad index on containerd).</summary>
    public string? RejectRegistration { get; set; }

    /// <summary>The timeout_nano the runtime puts on its calls (containerd's default plugin_request_timeout).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Held during every call to the plugin; UpdateContainers waits for it, as in containerd.</summary>
    public SemaphoreSlim RuntimeLock { get; } = new(1, 1);

    /// <summary>Every UpdateContainers request received.</summary>
    public Channel<UpdateContainersRequest> UpdateRequests { get; } = Channel.CreateUnbounded<UpdateContainersRequest>();

    /// <summary>Reply to UpdateContainers; by default nothing failed.</summary>
    public Func<UpdateContainersRequest, UpdateContainersResponse> UpdateReply { get; set; } = _ => new UpdateContainersResponse();

    public Task<RegisterPluginRequest> Registration => _registered.Task;

    public Task<Exception> Closed => _trunk.Closed;

    public void Start()
    {
        _trunk.Start();
        _tasks = Task.WhenAll(_runtime.RunAsync(), _plugin.RunAsync());
    }

    /// <summary>Calls the plugin like containerd does (under <see cref="RuntimeLock"/>), or concurrently with <paramref name="holdRuntimeLock"/> false.</summary>
    public async Task<TResponse> CallAsync<TResponse>(string method, IMessage request, MessageParser<TResponse> parser, TimeSpan? timeout = null, TimeSpan? replyWait = null, bool holdRuntimeLock = true)
        where TResponse : IMessage<TResponse>
    {
        if (!holdRuntimeLock)
        {
            return await _plugin.CallAsync(PluginService, method, request, parser, timeout ?? RequestTimeout, CancellationToken.None, replyWait).ConfigureAwait(false);
        }

        await RuntimeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return await _plugin.CallAsync(PluginService, method, request, parser, timeout ?? RequestTimeout, CancellationToken.None, replyWait).ConfigureAwait(false);
        }
        finally
        {
            RuntimeLock.Release();
        }
    }

    /// <summary>Calls any service name (for the unknown-service case).</summary>
    public Task<Empty> CallServiceAsync(string service, string method, IMessage request)
        => _plugin.CallAsync(service, method, request, Empty.Parser, RequestTimeout, CancellationToken.None);

    public Task<ConfigureResponse> ConfigureAsync(string runtimeName = "containerd", string runtimeVersion = "1.7.24~ds1", string nriVersion = "", string config = "")
        => CallAsync("Configure", new ConfigureRequest { RuntimeName = runtimeName, RuntimeVersion = runtimeVersion, NRIVersion = nriVersion, Config = config }, ConfigureResponse.Parser);

    public Task<SynchronizeResponse> SynchronizeAsync(IEnumerable<PodSandbox> pods, IEnumerable<Container> containers, bool more = false)
    {
        var request = new SynchronizeRequest { More = more };
        request.Pods.AddRange(pods);
        request.Containers.AddRange(containers);
        return CallAsync("Synchronize", request, SynchronizeResponse.Parser);
    }

    /// <summary>Register, Configure, empty Synchronize: what containerd does with a new external plugin.</summary>
    public async Task<ConfigureResponse> HandshakeAsync(string runtimeName = "containerd", string runtimeVersion = "1.7.24~ds1", string nriVersion = "")
    {
        await Registration.ConfigureAwait(false);
        ConfigureResponse configured = await ConfigureAsync(runtimeName, runtimeVersion, nriVersion).ConfigureAwait(false);
        await SynchronizeAsync([], []).ConfigureAwait(false);
        return configured;
    }

    public Task StartContainerAsync(PodSandbox pod, Container container)
        => CallAsync("StartContainer", new StartContainerRequest { Pod = pod, Container = container }, StartContainerResponse.Parser);

    public async ValueTask DisposeAsync()
    {
        await _trunk.DisposeAsync().ConfigureAwait(false);
        await _tasks.ConfigureAwait(false);
    }

    private async ValueTask<Empty> RegisterPluginAsync(RegisterPluginRequest request, CancellationToken ct)
    {
        _registered.TrySetResult(request);
        if (HoldRegistrationReply is { } hold)
        {
            await hold.WaitAsync(ct).ConfigureAwait(false);
        }

        if (RejectRegistration is { } message)
        {
            throw new NriStatusException(NriStatusCode.Unknown, message);
        }

        return new Empty();
    }

    private async ValueTask<UpdateContainersResponse> UpdateContainersAsync(UpdateContainersRequest request, CancellationToken ct)
    {
        await RuntimeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await UpdateRequests.Writer.WriteAsync(request, ct).ConfigureAwait(false);
            return UpdateReply(request);
        }
        finally
        {
            RuntimeLock.Release();
        }
    }
}
