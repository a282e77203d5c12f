using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Linux;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Daemon;

/// <summary>Follows every pod and container through NRI and keeps the registry current.</summary>
internal sealed partial class NriLifecycleHandler(ContainerRegistry registry, PolicyController policies, EventPump events, ILogger<NriLifecycleHandler> logger) :
    IConfigureHandler, ISynchronizeHandler,
    IRunPodSandboxHandler, IStopPodSandboxHandler, IRemovePodSandboxHandler,
    ICreateContainerHandler, IPostCreateContainerHandler, IStartContainerHandler, IPostStartContainerHandler,
    IUpdateContainerHandler, IPostUpdateContainerHandler, IStopContainerHandler, IRemoveContainerHandler
{
    public ValueTask ConfigureAsync(NriRuntimeInfo runtime, string config, CancellationToken ct)
    {
        LogConfigured(runtime.Name, runtime.Version, runtime.NriVersion ?? "unknown");
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<ContainerUpdate>> SynchronizeAsync(IReadOnlyList<PodSandbox> pods, IReadOnlyList<Container> containers, CancellationToken ct)
    {
        var records = new List<ContainerRecord>(containers.Count);
        foreach (var container in containers)
        {
            var record = ToRecord(container, container.Pid > 0 ? ContainerPhase.Started : ContainerPhase.Created);
            if (container.Pid > 0)
                record = WithCgroup(record, (int)container.Pid);
            records.Add(record);
        }
        registry.ReplaceAll(pods.Select(ToRecord), records);
        LogSynchronized(pods.Count, containers.Count);
        policies.Reconcile();
        foreach (var record in records)
        {
            var pod = registry.FindPod(record.PodId);
            LogContainerEvent("Synchronize", pod?.Namespace, pod?.Name, record.Name, record.Id, record.Pid, record.CgroupId, record.CgroupPath);
        }
        return ValueTask.FromResult<IReadOnlyList<ContainerUpdate>>([]);
    }

    public ValueTask RunPodSandboxAsync(PodSandbox pod, CancellationToken ct)
    {
        registry.UpsertPod(ToRecord(pod));
        LogPodEvent("RunPodSandbox", pod.Namespace, pod.Name, pod.Id, (int)pod.Pid);
        return ValueTask.CompletedTask;
    }

    public ValueTask StopPodSandboxAsync(PodSandbox pod, CancellationToken ct)
    {
        LogPodEvent("StopPodSandbox", pod.Namespace, pod.Name, pod.Id, (int)pod.Pid);
        return ValueTask.CompletedTask;
    }

    public ValueTask RemovePodSandboxAsync(PodSandbox pod, CancellationToken ct)
    {
        registry.RemovePod(pod.Id);
        LogPodEvent("RemovePodSandbox", pod.Namespace, pod.Name, pod.Id, (int)pod.Pid);
        return ValueTask.CompletedTask;
    }

    public ValueTask<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        var podRecord = ToRecord(pod);
        registry.UpsertPod(podRecord);
        var record = ToRecord(container, ContainerPhase.Created);
        Log("CreateContainer", pod, record);
        // Throws NriVetoException for an invalid selection: containerd then fails CreateContainer with our message.
        policies.Admit(podRecord, record);
        registry.UpsertContainer(record);
        return ValueTask.FromResult(new CreateContainerResponse());
    }

    public ValueTask PostCreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Log("PostCreateContainer", pod, registry.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Created));
        return ValueTask.CompletedTask;
    }

    public ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        // The first event with a PID: the init process sits in its cgroup and has not exec'd the entrypoint yet.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var record = WithCgroup(ToRecord(container, ContainerPhase.Started), (int)container.Pid);
        registry.UpsertContainer(record);
        Log("StartContainer", pod, record, container.State.ToString());
        var podRecord = registry.FindPod(pod.Id) ?? ToRecord(pod);
        try
        {
            policies.Start(podRecord, record);
        }
        catch (NriVetoException)
        {
            // A vetoed container never runs its entrypoint: it leaves ps now rather than staying "pending" until removed.
            registry.RemoveContainer(container.Id);
            policies.Release(container.Id, forget: true);
            throw;
        }
        LogStartHandled(container.Id, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        return ValueTask.CompletedTask;
    }

    public ValueTask PostStartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Log("PostStartContainer", pod, registry.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Started));
        return ValueTask.CompletedTask;
    }

    public ValueTask<UpdateContainerResponse> UpdateContainerAsync(PodSandbox pod, Container container, LinuxResources? resources, CancellationToken ct)
    {
        Log("UpdateContainer", pod, registry.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Started));
        return ValueTask.FromResult(new UpdateContainerResponse());
    }

    public ValueTask PostUpdateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Log("PostUpdateContainer", pod, registry.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Started));
        return ValueTask.CompletedTask;
    }

    public ValueTask<StopContainerResponse> StopContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        var known = registry.FindContainer(container.Id);
        var record = (known ?? ToRecord(container, ContainerPhase.Started)) with { Phase = ContainerPhase.Stopped };
        if (known is not null) // a vetoed container was dropped on purpose: stopping it must not bring it back
            registry.UpsertContainer(record);
        Log("StopContainer", pod, record);
        policies.Release(container.Id, forget: false);
        return ValueTask.FromResult(new StopContainerResponse());
    }

    public ValueTask RemoveContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        var record = registry.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Stopped);
        registry.RemoveContainer(container.Id);
        policies.Release(container.Id, forget: true);
        events.Forget(container.Id);
        Log("RemoveContainer", pod, record);
        return ValueTask.CompletedTask;
    }

    private ContainerRecord WithCgroup(ContainerRecord record, int pid)
    {
        if (pid <= 0)
            return record;
        try
        {
            var path = CgroupV2.DirectoryOf(pid);
            return record with { Pid = pid, CgroupPath = path, CgroupId = CgroupV2.IdOf(path) };
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            // The process may already be gone (a container that exits at once); keep what is known.
            LogCgroupUnresolved(record.Name, record.Id, pid, e.Message);
            return record with { Pid = pid };
        }
    }

    private static PodRecord ToRecord(PodSandbox pod) =>
        new(pod.Id, pod.Name, pod.Namespace, pod.Uid, new Dictionary<string, string>(pod.Labels), new Dictionary<string, string>(pod.Annotations));

    private static ContainerRecord ToRecord(Container container, ContainerPhase phase) =>
        new(container.Id, container.PodSandboxId, container.Name, new Dictionary<string, string>(container.Labels), new Dictionary<string, string>(container.Annotations), phase, (int)container.Pid);

    private void Log(string nriEvent, PodSandbox pod, ContainerRecord record, string? state = null) =>
        LogContainerEvent(nriEvent, pod.Namespace, pod.Name, record.Name, record.Id, record.Pid, record.CgroupId, record.CgroupPath, state);

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI connected to {Runtime} {RuntimeVersion} (NRI {NriVersion})")]
    private partial void LogConfigured(string runtime, string runtimeVersion, string nriVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI Synchronize: {PodCount} pods, {ContainerCount} containers")]
    private partial void LogSynchronized(int podCount, int containerCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI {NriEvent}: pod {PodNamespace}/{Pod} ({PodId}) pid {Pid}")]
    private partial void LogPodEvent(string nriEvent, string podNamespace, string pod, string podId, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI {NriEvent}: pod {PodNamespace}/{Pod} container {Container} ({ContainerId}) pid {Pid} cgroup {CgroupId} {CgroupPath} {State}")]
    private partial void LogContainerEvent(string nriEvent, string? podNamespace, string? pod, string container, string containerId, int pid, ulong cgroupId, string? cgroupPath, string? state = null);

    [LoggerMessage(Level = LogLevel.Information, Message = "StartContainer {ContainerId} handled in {HandlerMicroseconds} µs")]
    private partial void LogStartHandled(string containerId, long handlerMicroseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot resolve the cgroup of container {Container} ({ContainerId}) pid {Pid}: {Reason}")]
    private partial void LogCgroupUnresolved(string container, string containerId, int pid, string reason);
}
