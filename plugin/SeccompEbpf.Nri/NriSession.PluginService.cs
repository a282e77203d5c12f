using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Ttrpc;

namespace SeccompEbpf.Nri;

/// <summary>The <c>nri.pkg.api.v1alpha1.Plugin</c> service: Configure, Synchronize and event routing.</summary>
internal sealed partial class NriSession
{
    private static readonly TimeSpan s_defaultRegistrationTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_defaultRequestTimeout = TimeSpan.FromSeconds(2);

    private TtrpcServiceTable BuildPluginService()
    {
        var table = new TtrpcServiceTable();
        const string S = PluginService;
        table.Add(S, "Configure", ConfigureRequest.Parser, ConfigureAsync);
        table.Add(S, "Synchronize", SynchronizeRequest.Parser, SynchronizeAsync);
        table.Add(S, "Shutdown", Empty.Parser, static (_, _) => ValueTask.FromResult(new Empty()));
        table.Add(S, "CreateContainer", CreateContainerRequest.Parser, CreateContainerAsync);
        table.Add(S, "UpdateContainer", UpdateContainerRequest.Parser, UpdateContainerAsync);
        table.Add(S, "StopContainer", StopContainerRequest.Parser, StopContainerAsync);
        table.Add(S, "UpdatePodSandbox", UpdatePodSandboxRequest.Parser, UpdatePodSandboxAsync);
        table.Add(S, "ValidateContainerAdjustment", ValidateContainerAdjustmentRequest.Parser, ValidateAsync);
        table.Add(S, "StateChange", StateChangeEvent.Parser, async (r, ct) => { await NotifyAsync(r.Event, r.Pod, r.Container, ct).ConfigureAwait(false); return new Empty(); });

        // NRI 0.12 dedicated notification RPCs reach the same handlers as StateChange.
        table.Add(S, "RunPodSandbox", RunPodSandboxRequest.Parser, async (r, ct) => { await NotifyAsync(Event.RunPodSandbox, r.Pod, null, ct).ConfigureAwait(false); return new RunPodSandboxResponse(); });
        table.Add(S, "StopPodSandbox", StopPodSandboxRequest.Parser, async (r, ct) => { await NotifyAsync(Event.StopPodSandbox, r.Pod, null, ct).ConfigureAwait(false); return new StopPodSandboxResponse(); });
        table.Add(S, "RemovePodSandbox", RemovePodSandboxRequest.Parser, async (r, ct) => { await NotifyAsync(Event.RemovePodSandbox, r.Pod, null, ct).ConfigureAwait(false); return new RemovePodSandboxResponse(); });
        table.Add(S, "PostUpdatePodSandbox", PostUpdatePodSandboxRequest.Parser, async (r, ct) => { await NotifyAsync(Event.PostUpdatePodSandbox, r.Pod, null, ct).ConfigureAwait(false); return new PostUpdatePodSandboxResponse(); });
        table.Add(S, "PostCreateContainer", PostCreateContainerRequest.Parser, async (r, ct) => { await NotifyAsync(Event.PostCreateContainer, r.Pod, r.Container, ct).ConfigureAwait(false); return new PostCreateContainerResponse(); });
        table.Add(S, "StartContainer", StartContainerRequest.Parser, async (r, ct) => { await NotifyAsync(Event.StartContainer, r.Pod, r.Container, ct).ConfigureAwait(false); return new StartContainerResponse(); });
        table.Add(S, "PostStartContainer", PostStartContainerRequest.Parser, async (r, ct) => { await NotifyAsync(Event.PostStartContainer, r.Pod, r.Container, ct).ConfigureAwait(false); return new PostStartContainerResponse(); });
        table.Add(S, "PostUpdateContainer", PostUpdateContainerRequest.Parser, async (r, ct) => { await NotifyAsync(Event.PostUpdateContainer, r.Pod, r.Container, ct).ConfigureAwait(false); return new PostUpdateContainerResponse(); });
        table.Add(S, "RemoveContainer", RemoveContainerRequest.Parser, async (r, ct) => { await NotifyAsync(Event.RemoveContainer, r.Pod, r.Container, ct).ConfigureAwait(false); return new RemoveContainerResponse(); });
        return table;
    }

    private async ValueTask<ConfigureResponse> ConfigureAsync(ConfigureRequest request, CancellationToken ct)
    {
        var runtime = new NriRuntimeInfo(
            request.RuntimeName,
            request.RuntimeVersion,
            string.IsNullOrEmpty(request.NRIVersion) ? null : request.NRIVersion,
            request.RegistrationTimeout > 0 ? TimeSpan.FromMilliseconds(request.RegistrationTimeout) : s_defaultRegistrationTimeout,
            request.RequestTimeout > 0 ? TimeSpan.FromMilliseconds(request.RequestTimeout) : s_defaultRequestTimeout);

        if (_handlers.Configure is { } handler)
        {
            using HandlerScope scope = HandlerScope.Enter();
            await handler.ConfigureAsync(runtime, request.Config, ct).ConfigureAwait(false);
        }

        int mask = _handlers.MaskFor(runtime);
        if ((_handlers.HandledEvents & ~mask) != 0)
        {
            _logger.LogWarning(
                "Runtime {Runtime} {Version} (NRI {NriVersion}) does not know events 0x{Dropped:x}; they are not subscribed",
                runtime.Name, runtime.Version, runtime.NriVersion ?? "unknown", _handlers.HandledEvents & ~mask);
        }

        _logger.LogInformation(
            "Configured by {Runtime} {Version} (NRI {NriVersion}); subscribing to events 0x{Mask:x}",
            runtime.Name, runtime.Version, runtime.NriVersion ?? "unknown", mask);
        _plugin.OnConfigured(runtime, mask);
        return new ConfigureResponse { Events = mask };
    }

    private async ValueTask<SynchronizeResponse> SynchronizeAsync(SynchronizeRequest request, CancellationToken ct)
    {
        List<PodSandbox> pods;
        List<Container> containers;
        long started = Environment.TickCount64;
        lock (_syncLock)
        {
            _syncPods.AddRange(request.Pods);
            _syncContainers.AddRange(request.Containers);
            if (request.More)
            {
                // An intermediate chunk of a split Synchronize: acknowledge it with no updates.
                return new SynchronizeResponse { More = true };
            }

            (pods, containers) = (_syncPods, _syncContainers);
            (_syncPods, _syncContainers) = ([], []);
        }

        var response = new SynchronizeResponse();
        if (_handlers.Synchronize is { } handler)
        {
            using HandlerScope scope = HandlerScope.Enter();
            try
            {
                response.Update.AddRange(await handler.SynchronizeAsync(pods, containers, ct).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested && !_trunk.IsClosed)
            {
                CloseAfterLateSynchronize(TimeSpan.FromMilliseconds(Environment.TickCount64 - started));
                throw;
            }
        }

        var elapsed = TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
        if (elapsed >= RequestTimeout)
        {
            CloseAfterLateSynchronize(elapsed);
            return response;
        }

        _logger.LogInformation("Synchronized {Pods} pod(s) and {Containers} container(s)", pods.Count, containers.Count);
        _plugin.OnSynchronized(pods.Count, containers.Count);
        return response;
    }

    private TimeSpan RequestTimeout => _plugin.Runtime?.RequestTimeout ?? s_defaultRequestTimeout;

    /// <summary>
    /// A Synchronize reply the runtime gave up on leaves a dead connection: containerd 1.7 keeps the socket open but
    /// sends no further events, so every later container would start without the plugin. The only way back is a
    /// new registration: close once the reply is on its way; external mode then reconnects and synchronizes again.
    /// </summary>
    private void CloseAfterLateSynchronize(TimeSpan elapsed)
    {
        _logger.LogWarning(
            "Synchronize took {Elapsed} ms, beyond the runtime's request timeout of {Timeout} ms: the runtime has dropped this connection; closing it to register again",
            (long)elapsed.TotalMilliseconds, (long)RequestTimeout.TotalMilliseconds);
        var reason = new NriConnectionException($"Synchronize reply was late ({(long)elapsed.TotalMilliseconds} ms > request timeout {(long)RequestTimeout.TotalMilliseconds} ms)");
        // The reply (useless to the runtime, harmless to send) goes out first; then the trunk closes.
        _ = Task.Run(async () =>
        {
            await Task.Delay(50).ConfigureAwait(false);
            _trunk.Close(reason);
        });
    }

    private async ValueTask<CreateContainerResponse> CreateContainerAsync(CreateContainerRequest request, CancellationToken ct)
    {
        if (_handlers.CreateContainer is not { } handler)
        {
            return new CreateContainerResponse();
        }

        using HandlerScope scope = HandlerScope.Enter();
        return await handler.CreateContainerAsync(request.Pod ?? new PodSandbox(), request.Container ?? new Container(), ct).ConfigureAwait(false)
            ?? new CreateContainerResponse();
    }

    private async ValueTask<UpdateContainerResponse> UpdateContainerAsync(UpdateContainerRequest request, CancellationToken ct)
    {
        if (_handlers.UpdateContainer is not { } handler)
        {
            return new UpdateContainerResponse();
        }

        using HandlerScope scope = HandlerScope.Enter();
        return await handler.UpdateContainerAsync(request.Pod ?? new PodSandbox(), request.Container ?? new Container(), request.LinuxResources, ct).ConfigureAwait(false)
            ?? new UpdateContainerResponse();
    }

    private async ValueTask<StopContainerResponse> StopContainerAsync(StopContainerRequest request, CancellationToken ct)
    {
        if (_handlers.StopContainer is not { } handler)
        {
            return new StopContainerResponse();
        }

        using HandlerScope scope = HandlerScope.Enter();
        return await handler.StopContainerAsync(request.Pod ?? new PodSandbox(), request.Container ?? new Container(), ct).ConfigureAwait(false)
            ?? new StopContainerResponse();
    }

    private async ValueTask<UpdatePodSandboxResponse> UpdatePodSandboxAsync(UpdatePodSandboxRequest request, CancellationToken ct)
    {
        if (_handlers.UpdatePodSandbox is { } handler)
        {
            using HandlerScope scope = HandlerScope.Enter();
            await handler.UpdatePodSandboxAsync(request.Pod ?? new PodSandbox(), request.OverheadLinuxResources, request.LinuxResources, ct).ConfigureAwait(false);
        }

        return new UpdatePodSandboxResponse();
    }

    private async ValueTask<ValidateContainerAdjustmentResponse> ValidateAsync(ValidateContainerAdjustmentRequest request, CancellationToken ct)
    {
        if (_handlers.ValidateContainerAdjustment is not { } handler)
        {
            return new ValidateContainerAdjustmentResponse();
        }

        using HandlerScope scope = HandlerScope.Enter();
        return await handler.ValidateContainerAdjustmentAsync(request, ct).ConfigureAwait(false) ?? new ValidateContainerAdjustmentResponse();
    }

    /// <summary>Routes a notification event, whether it came as StateChange or as its dedicated RPC.</summary>
    private async ValueTask NotifyAsync(Event @event, PodSandbox? pod, Container? container, CancellationToken ct)
    {
        pod ??= new PodSandbox();
        container ??= new Container();
        using HandlerScope scope = HandlerScope.Enter();
        ValueTask pending = @event switch
        {
            Event.RunPodSandbox => _handlers.RunPodSandbox?.RunPodSandboxAsync(pod, ct) ?? default,
            Event.StopPodSandbox => _handlers.StopPodSandbox?.StopPodSandboxAsync(pod, ct) ?? default,
            Event.RemovePodSandbox => _handlers.RemovePodSandbox?.RemovePodSandboxAsync(pod, ct) ?? default,
            Event.PostUpdatePodSandbox => _handlers.PostUpdatePodSandbox?.PostUpdatePodSandboxAsync(pod, ct) ?? default,
            Event.PostCreateContainer => _handlers.PostCreateContainer?.PostCreateContainerAsync(pod, container, ct) ?? default,
            Event.StartContainer => _handlers.StartContainer?.StartContainerAsync(pod, container, ct) ?? default,
            Event.PostStartContainer => _handlers.PostStartContainer?.PostStartContainerAsync(pod, container, ct) ?? default,
            Event.PostUpdateContainer => _handlers.PostUpdateContainer?.PostUpdateContainerAsync(pod, container, ct) ?? default,
            Event.RemoveContainer => _handlers.RemoveContainer?.RemoveContainerAsync(pod, container, ct) ?? default,
            _ => throw new NriStatusException(NriStatusCode.InvalidArgument, $"StateChange carries {@event} ({(int)@event}), which is not a notification event"),
        };
        await pending.ConfigureAwait(false);
    }
}
