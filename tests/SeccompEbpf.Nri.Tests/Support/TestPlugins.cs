using System.Threading.Channels;
using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri.Tests;

/// <summary>Implements the eleven classic event handlers plus Configure and Synchronize and records what it saw.</summary>
internal class RecordingPlugin :
    IConfigureHandler, ISynchronizeHandler,
    IRunPodSandboxHandler, IStopPodSandboxHandler, IRemovePodSandboxHandler,
    ICreateContainerHandler, IPostCreateContainerHandler, IStartContainerHandler, IPostStartContainerHandler,
    IUpdateContainerHandler, IPostUpdateContainerHandler, IStopContainerHandler, IRemoveContainerHandler
{
    /// <summary>A plugin whose CreateContainer reply carries one annotation of the given value (large replies span several mux frames).</summary>
    public static RecordingPlugin AnnotatingCreate(string value) => new()
    {
        OnCreate = (_, _, _) =>
        {
            var response = new CreateContainerResponse { Adjust = new ContainerAdjustment() };
            response.Adjust.Annotations["big"] = value;
            return ValueTask.FromResult(response);
        },
    };

    public Channel<string> Events { get; } = Channel.CreateUnbounded<string>();

    public NriRuntimeInfo? ConfiguredWith { get; private set; }

    public List<(IReadOnlyList<PodSandbox> Pods, IReadOnlyList<Container> Containers)> Synchronizations { get; } = [];

    public Func<PodSandbox, Container, CancellationToken, ValueTask>? OnStart { get; set; }

    public Func<PodSandbox, Container, CancellationToken, ValueTask<CreateContainerResponse>>? OnCreate { get; set; }

    public IReadOnlyList<ContainerUpdate> SynchronizeUpdates { get; set; } = [];

    /// <summary>Delays for the next Synchronize replies, one per call, ignoring cancellation as a blocked handler would.</summary>
    public Queue<TimeSpan> SynchronizeDelays { get; } = new();

    public ValueTask ConfigureAsync(NriRuntimeInfo runtime, string config, CancellationToken ct)
    {
        ConfiguredWith = runtime;
        return Record("Configure");
    }

    public async ValueTask<IReadOnlyList<ContainerUpdate>> SynchronizeAsync(IReadOnlyList<PodSandbox> pods, IReadOnlyList<Container> containers, CancellationToken ct)
    {
        if (SynchronizeDelays.TryDequeue(out TimeSpan delay))
            await Task.Delay(delay, CancellationToken.None);
        Synchronizations.Add((pods, containers));
        Events.Writer.TryWrite("Synchronize");
        return SynchronizeUpdates;
    }

    public ValueTask RunPodSandboxAsync(PodSandbox pod, CancellationToken ct) => Record($"RunPodSandbox {pod.Id}");

    public ValueTask StopPodSandboxAsync(PodSandbox pod, CancellationToken ct) => Record($"StopPodSandbox {pod.Id}");

    public ValueTask RemovePodSandboxAsync(PodSandbox pod, CancellationToken ct) => Record($"RemovePodSandbox {pod.Id}");

    public async ValueTask<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        await Record($"CreateContainer {container.Id}");
        return OnCreate is null ? new CreateContainerResponse() : await OnCreate(pod, container, ct);
    }

    public ValueTask PostCreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct) => Record($"PostCreateContainer {container.Id}");

    public async ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        await Record($"StartContainer {container.Id} pid {container.Pid}");
        if (OnStart is not null)
        {
            await OnStart(pod, container, ct);
        }
    }

    public ValueTask PostStartContainerAsync(PodSandbox pod, Container container, CancellationToken ct) => Record($"PostStartContainer {container.Id}");

    public async ValueTask<UpdateContainerResponse> UpdateContainerAsync(PodSandbox pod, Container container, LinuxResources? resources, CancellationToken ct)
    {
        await Record($"UpdateContainer {container.Id}");
        return new UpdateContainerResponse();
    }

    public ValueTask PostUpdateContainerAsync(PodSandbox pod, Container container, CancellationToken ct) => Record($"PostUpdateContainer {container.Id}");

    public async ValueTask<StopContainerResponse> StopContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        await Record($"StopContainer {container.Id}");
        return new StopContainerResponse();
    }

    public ValueTask RemoveContainerAsync(PodSandbox pod, Container container, CancellationToken ct) => Record($"RemoveContainer {container.Id}");

    public async Task<string> NextEventAsync() => await Events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));

    private ValueTask Record(string what)
    {
        Events.Writer.TryWrite(what);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Only StartContainer: no Configure handler, no Synchronize handler.</summary>
internal sealed class StartOnlyPlugin : IStartContainerHandler
{
    public int Starts;

    public ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Interlocked.Increment(ref Starts);
        return ValueTask.CompletedTask;
    }
}

/// <summary>StartContainer plus the NRI 0.10 pod-update events.</summary>
internal sealed class PodUpdatePlugin : IStartContainerHandler, IUpdatePodSandboxHandler, IPostUpdatePodSandboxHandler
{
    public ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask UpdatePodSandboxAsync(PodSandbox pod, LinuxResources? overheadResources, LinuxResources? resources, CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask PostUpdatePodSandboxAsync(PodSandbox pod, CancellationToken ct) => ValueTask.CompletedTask;
}

/// <summary>Handles no event at all.</summary>
internal sealed class NoHandlersPlugin;
