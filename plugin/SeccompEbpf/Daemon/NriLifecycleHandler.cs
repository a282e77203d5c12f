using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Daemon;

/// <summary>Follows every pod and container through NRI and keeps the container table current.</summary>
internal sealed partial class NriLifecycleHandler(ContainerTable table, PolicyController policies, PolicyOptions policyOptions, EventPump events, ExecGateKeeper gate, SeccompFloorReader floors, ILogger<NriLifecycleHandler> logger) :
    IConfigureHandler, ISynchronizeHandler,
    IRunPodSandboxHandler, IStopPodSandboxHandler, IRemovePodSandboxHandler,
    ICreateContainerHandler, IPostCreateContainerHandler, IStartContainerHandler, IPostStartContainerHandler,
    IUpdateContainerHandler, IPostUpdateContainerHandler, IStopContainerHandler, IRemoveContainerHandler
{
    // containerd drops a plugin that answers any request later than this (plugin_request_timeout, 2 s by default).
    private TimeSpan _requestTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long CreateContainer and StartContainer may take to decide: three quarters of the time the runtime gave this
    /// request (its ttrpc timeout, else the Configure request timeout), so the answer (veto or admission) always reaches
    /// containerd before it gives up on the plugin.
    /// </summary>
    private TimeSpan DecisionDeadline => TimeSpan.FromTicks((RequestTimeout.Ticks * 3) / 4);

    private TimeSpan RequestTimeout => NriRequestDeadline.Timeout ?? _requestTimeout;

    public ValueTask ConfigureAsync(NriRuntimeInfo runtime, string config, CancellationToken ct)
    {
        _requestTimeout = runtime.RequestTimeout;
        LogConfigured(runtime.Name, runtime.Version, runtime.NriVersion ?? "unknown");
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Records the runtime's pods and containers and answers at once; binding them (all of them after a restart) runs
    /// after the reply. containerd drops a plugin whose Synchronize reply misses its request timeout, and a loaded node
    /// with hundreds of containers would miss it. The running containers lose nothing meanwhile: pinned bindings
    /// outlive the daemon, and containers the daemon never saw were not enforced before either.
    /// </summary>
    public async ValueTask<IReadOnlyList<ContainerUpdate>> SynchronizeAsync(IReadOnlyList<PodSandbox> pods, IReadOnlyList<Container> containers, CancellationToken ct)
    {
        await TestHooks.DelayFirstSynchronizeAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var records = new List<ContainerRecord>(containers.Count);
        foreach (var container in containers)
        {
            var record = ToRecord(container, container.Pid > 0 ? ContainerPhase.Started : ContainerPhase.Created);
            if (container.Pid > 0)
                record = WithCgroup(record, (int)container.Pid) with { Floor = floors.Read(container, (int)container.Pid) };
            records.Add(record);
        }
        table.ReplaceAll(pods.Select(ToRecord), records);
        LogSynchronized(pods.Count, containers.Count);
        // Admitted before the reply: the daemon vouches for the node once synchronized, and stops vouching when it
        // goes away, so every container the runtime runs must be admitted by then or its next exec would be gated.
        var live = new HashSet<ulong>();
        foreach (var record in records.Where(r => r.CgroupId != 0))
        {
            gate.Admit(record.CgroupId, record.CgroupPath, table.FindPod(record.PodId), record.Name);
            live.Add(record.CgroupId);
        }
        foreach (var pod in pods)
            live.Add(gate.AdmitSandbox(pod.Id, (int)pod.Pid, ToRecord(pod)));
        gate.Retain(live);
        var recorded = clock.Elapsed;
        _ = Task.Run(() =>
        {
            try
            {
                policies.Reconcile();
            }
            catch (Exception e)
            {
                LogReconcileFailed(e.Message, e);
            }
            foreach (var record in records)
            {
                var pod = table.FindPod(record.PodId);
                LogContainerEvent("Synchronize", pod?.Namespace, pod?.Name, record.Name, record.Id, record.Pid, record.CgroupId, record.CgroupPath);
            }
            LogSynchronizeTiming(containers.Count, (long)recorded.TotalMilliseconds, (long)(clock.Elapsed - recorded).TotalMilliseconds);
        }, CancellationToken.None);
        return [];
    }

    public ValueTask RunPodSandboxAsync(PodSandbox pod, CancellationToken ct)
    {
        table.UpsertPod(ToRecord(pod));
        gate.AdmitSandbox(pod.Id, (int)pod.Pid, ToRecord(pod));
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
        table.RemovePod(pod.Id);
        gate.ForgetSandbox(pod.Id);
        LogPodEvent("RemovePodSandbox", pod.Namespace, pod.Name, pod.Id, (int)pod.Pid);
        return ValueTask.CompletedTask;
    }

    public async ValueTask<CreateContainerResponse> CreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        var podRecord = ToRecord(pod);
        table.UpsertPod(podRecord);
        var record = ToRecord(container, ContainerPhase.Created);
        Log("CreateContainer", pod, record);
        // Throws NriVetoException for an invalid selection: containerd then fails CreateContainer with our message.
        // Only a decision made in time is kept: one that lands after the deadline is for a container already answered.
        ContainerPolicy? admitted = null;
        await DecideWithinDeadlineAsync("CreateContainer", podRecord, record, () => admitted = policies.Decide(podRecord, record));
        policies.Admit(record, admitted); // null (decided late, started unmanaged): selected again at StartContainer
        return new CreateContainerResponse();
    }

    public ValueTask PostCreateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Log("PostCreateContainer", pod, table.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Created));
        return ValueTask.CompletedTask;
    }

    public async ValueTask StartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        // The first event with a PID: the init process sits in its cgroup and has not exec'd the entrypoint yet.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var record = WithCgroup(ToRecord(container, ContainerPhase.Started), (int)container.Pid) with { Floor = floors.Read(container, (int)container.Pid) };
        table.UpsertContainer(record);
        Log("StartContainer", pod, record, container.State.ToString());
        var podRecord = table.FindPod(pod.Id) ?? ToRecord(pod);
        gate.Admit(record.CgroupId, record.CgroupPath, podRecord, record.Name);
        try
        {
            await DecideWithinDeadlineAsync("StartContainer", podRecord, record, () =>
            {
                TestHooks.DelayFirstStartDecision();
                policies.Start(podRecord, record);
            });
        }
        catch (NriVetoException)
        {
            // A vetoed container never runs its entrypoint: it leaves ps now rather than staying "pending" until removed.
            // (A veto by the controller has removed it already; one by the deadline has not.)
            policies.Release(container.Id, forget: true);
            throw;
        }
        LogStartHandled(container.Id, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
    }

    /// <summary>
    /// Runs a policy decision, but never past <see cref="DecisionDeadline"/>: a decision still pending then (a blocked
    /// lock, a loaded node) would otherwise make containerd drop the plugin and start this and every later container
    /// without it. Out of time, the container is vetoed, or with <c>policy.onInvalidPolicy: StartUnmanaged</c> it
    /// starts, logged as not yet enforced; the late decision still lands when it completes.
    /// </summary>
    private async Task DecideWithinDeadlineAsync(string nriEvent, PodRecord pod, ContainerRecord container, Action decide)
    {
        var deadline = DecisionDeadline;
        var decision = Task.Run(decide);
        if (await Task.WhenAny(decision, Task.Delay(deadline)) == decision)
        {
            await decision; // a veto (NriVetoException) or an engine failure propagates from here
            return;
        }

        _ = decision.ContinueWith(
            t => LogLateDecision(nriEvent, pod.Namespace, pod.Name, container.Name, container.Id, t.Exception?.GetBaseException().Message ?? "done"),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var ms = (long)deadline.TotalMilliseconds;
        if (policyOptions.OnInvalidPolicy == InvalidPolicyAction.StartUnmanaged)
        {
            LogDecisionDeadlineStarted(nriEvent, pod.Namespace, pod.Name, container.Name, container.Id, ms);
            return;
        }
        LogDecisionDeadlineVetoed(nriEvent, pod.Namespace, pod.Name, container.Name, container.Id, ms);
        throw new NriVetoException(
            $"seccomp-ebpf: no policy decision for container {container.Name} of pod {pod.Namespace}/{pod.Name} within {ms} ms at {nriEvent} "
            + $"(containerd drops plugins after {(long)RequestTimeout.TotalMilliseconds} ms); vetoed rather than started unprotected");
    }

    public ValueTask PostStartContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Log("PostStartContainer", pod, table.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Started));
        return ValueTask.CompletedTask;
    }

    public ValueTask<UpdateContainerResponse> UpdateContainerAsync(PodSandbox pod, Container container, LinuxResources? resources, CancellationToken ct)
    {
        Log("UpdateContainer", pod, table.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Started));
        return ValueTask.FromResult(new UpdateContainerResponse());
    }

    public ValueTask PostUpdateContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        Log("PostUpdateContainer", pod, table.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Started));
        return ValueTask.CompletedTask;
    }

    public ValueTask<StopContainerResponse> StopContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        var known = table.FindContainer(container.Id);
        var record = (known ?? ToRecord(container, ContainerPhase.Started)) with { Phase = ContainerPhase.Stopped };
        table.UpdateListedContainer(record); // a vetoed container was dropped on purpose: stopping it must not bring it back
        Log("StopContainer", pod, record);
        policies.Release(container.Id, forget: false);
        return ValueTask.FromResult(new StopContainerResponse());
    }

    public ValueTask RemoveContainerAsync(PodSandbox pod, Container container, CancellationToken ct)
    {
        var record = table.FindContainer(container.Id) ?? ToRecord(container, ContainerPhase.Stopped);
        policies.Release(container.Id, forget: true); // unbinds and removes the entry
        gate.Forget(record.CgroupId);
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
            var path = CgroupFs.DirectoryOf(pid);
            return record with { Pid = pid, CgroupPath = path, CgroupId = CgroupFs.IdOf(path) };
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Synchronize of {ContainerCount} containers answered in {ReplyMs} ms; reconciled after the reply in {ReconcileMs} ms")]
    private partial void LogSynchronizeTiming(int containerCount, long replyMs, long reconcileMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reconciling the containers of a Synchronize failed: {Reason}")]
    private partial void LogReconcileFailed(string reason, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI {NriEvent}: pod {PodNamespace}/{Pod} ({PodId}) pid {Pid}")]
    private partial void LogPodEvent(string nriEvent, string podNamespace, string pod, string podId, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI {NriEvent}: pod {PodNamespace}/{Pod} container {Container} ({ContainerId}) pid {Pid} cgroup {CgroupId} {CgroupPath} {State}")]
    private partial void LogContainerEvent(string nriEvent, string? podNamespace, string? pod, string container, string containerId, int pid, ulong cgroupId, string? cgroupPath, string? state = null);

    [LoggerMessage(Level = LogLevel.Information, Message = "StartContainer {ContainerId} handled in {HandlerMicroseconds} µs")]
    private partial void LogStartHandled(string containerId, long handlerMicroseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "{NriEvent}: no policy decision for pod {PodNamespace}/{Pod} container {Container} ({ContainerId}) within {DeadlineMs} ms: vetoed")]
    private partial void LogDecisionDeadlineVetoed(string nriEvent, string podNamespace, string pod, string container, string containerId, long deadlineMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{NriEvent}: no policy decision for pod {PodNamespace}/{Pod} container {Container} ({ContainerId}) within {DeadlineMs} ms: started before its policy is enforced (policy.onInvalidPolicy = StartUnmanaged)")]
    private partial void LogDecisionDeadlineStarted(string nriEvent, string podNamespace, string pod, string container, string containerId, long deadlineMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{NriEvent}: the late policy decision for pod {PodNamespace}/{Pod} container {Container} ({ContainerId}) completed after the deadline: {Outcome}")]
    private partial void LogLateDecision(string nriEvent, string podNamespace, string pod, string container, string containerId, string outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot resolve the cgroup of container {Container} ({ContainerId}) pid {Pid}: {Reason}")]
    private partial void LogCgroupUnresolved(string container, string containerId, int pid, string reason);
}
