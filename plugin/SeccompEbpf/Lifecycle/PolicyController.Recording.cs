using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Lifecycle;

/// <summary>A container's recording as read from the kernel, with who it is.</summary>
internal sealed record ContainerRecording(PodRecord Pod, ContainerRecord Container, DateTimeOffset? Since, string? Profile, SyscallRecording Syscalls);

// Live recording (docs/recording.md): `seccomp-ebpf record` and the seccomp-ebpf.io/record annotation.
internal sealed partial class PolicyController
{
    /// <summary>
    /// Starts recording the targets that do not record yet (a container without a profile is bound to the allow-all
    /// recording binding first); returns every target's id and whether it was recording already.
    /// </summary>
    /// <param name="arguments">
    /// When not empty: every target also records these arguments' values from now on (`record --with-args`), replacing
    /// the arguments it recorded before; a target that records already keeps its set of syscalls.
    /// </param>
    /// <exception cref="PolicySelectionException">Unknown or not running target, invalid arguments, or the engine cannot record it; nothing else changed for it.</exception>
    public IReadOnlyList<(string ContainerId, bool WasRecording)> StartRecording(string? podRef, string? containerId, IReadOnlyList<ArgumentToRecord>? arguments = null)
    {
        // checked before any target changes: a bad request records nothing
        if (arguments is { Count: > 0 } && ArgumentToRecord.Problem(arguments) is { } invalid)
            throw new PolicySelectionException($"--with-args: {invalid}");
        var started = new List<(string, bool)>();
        using (Locked())
        {
            foreach (var entry in TargetsLocked(podRef, containerId))
            {
                var container = entry.Container;
                var pod = _table.FindPod(container.PodId)!;
                if (!IsRunning(container))
                    throw new PolicySelectionException($"container {container.Name} ({container.Id[..Math.Min(12, container.Id.Length)]}) is not running");
                var policy = entry.Policy ?? new ContainerPolicy(container.Id, new PolicySelection(null, null, PolicyMode.Off, null));
                bool wasRecording = policy.Recording && policy.BoundCgroupId == container.CgroupId;
                if (!wasRecording)
                {
                    var recording = policy with { Recording = true };
                    if (recording.RecordOnly || policy.BoundCgroupId != container.CgroupId)
                    {
                        // not bound (no profile, or its profile was refused): the recording needs a binding of its own
                        if (recording.RecordOnly)
                            recording = recording with { Profile = ProfileToBind(recording) };
                        var after = ApplyLocked(pod, container, recording, _binder.Bind(container, recording, mayVeto: false), from: null);
                        if (!after.Recording)
                            throw new PolicySelectionException($"container {container.Name} cannot be recorded: {after.Reason}");
                    }
                    else
                    {
                        var after = StartRecordingLocked(pod, container, recording);
                        if (!after.Recording)
                            throw new PolicySelectionException($"container {container.Name} cannot be recorded: {after.Reason}");
                        _table.Put(new ContainerEntry(container, after));
                    }
                }
                if (arguments is { Count: > 0 })
                    RecordArgumentsLocked(pod, container, arguments);
                started.Add((container.Id, wasRecording));
            }
        }
        return started;
    }

    /// <summary>Stops recording argument values on the targets (what `record --with-args` started on a container that records on).</summary>
    /// <exception cref="PolicySelectionException">Unknown target.</exception>
    public IReadOnlyList<string> StopRecordingArguments(string? podRef, string? containerId)
    {
        var stopped = new List<string>();
        using (Locked())
        {
            foreach (var entry in TargetsLocked(podRef, containerId))
            {
                if (entry.Policy is not { Recording: true, BoundCgroupId: not 0 } policy)
                    continue;
                if (_binder.RecordArguments(policy.BoundCgroupId, []) is { } problem)
                {
                    var pod = _table.FindPod(entry.Container.PodId)!;
                    LogRecordingProblem(pod.Namespace, pod.Name, entry.Container.Name, problem);
                    continue;
                }
                stopped.Add(entry.Container.Id);
            }
        }
        return stopped;
    }

    private void RecordArgumentsLocked(PodRecord pod, ContainerRecord container, IReadOnlyList<ArgumentToRecord> arguments)
    {
        var policy = _table.Find(container.Id)?.Policy;
        string? problem = policy is { Recording: true, BoundCgroupId: not 0 }
            ? _binder.RecordArguments(policy.BoundCgroupId, arguments)
            : "it does not record";
        if (problem is not null)
        {
            LogRecordingProblem(pod.Namespace, pod.Name, container.Name, problem);
            throw new PolicySelectionException($"container {container.Name} cannot record arguments: {problem}");
        }
        LogRecordingArguments(pod.Namespace, pod.Name, container.Name, container.Id, string.Join(",", arguments.Select(a => $"{a.Syscall}:{a.Index}")));
    }

    /// <summary>What the targets' recordings hold now; targets that do not record are left out.</summary>
    /// <exception cref="PolicySelectionException">Unknown target.</exception>
    public IReadOnlyList<ContainerRecording> ReadRecordings(string? podRef, string? containerId)
    {
        var result = new List<ContainerRecording>();
        using (Locked())
        {
            foreach (var entry in TargetsLocked(podRef, containerId))
            {
                if (entry.Policy is not { } policy || RecordingOf(policy) is not { } syscalls)
                    continue;
                result.Add(new ContainerRecording(_table.FindPod(entry.Container.PodId)!, entry.Container, policy.RecordingSince,
                    policy.RecordOnly ? null : policy.ProfileReference, syscalls));
            }
        }
        return result;
    }

    /// <summary>What a container's recording holds now, or null when it does not record (ps).</summary>
    public SyscallRecording? RecordingOf(ContainerPolicy policy) =>
        policy is { Recording: true, BoundCgroupId: not 0 } ? _binder.ReadRecording(policy.BoundCgroupId) : null;

    /// <summary>Stops the targets' recordings; a container bound only to record is unbound (unmanaged again).</summary>
    /// <exception cref="PolicySelectionException">Unknown target.</exception>
    public IReadOnlyList<string> StopRecording(string? podRef, string? containerId)
    {
        var stopped = new List<string>();
        using (Locked())
        {
            foreach (var entry in TargetsLocked(podRef, containerId))
            {
                if (entry.Policy is not { Recording: true } policy)
                    continue;
                var container = entry.Container;
                var pod = _table.FindPod(container.PodId)!;
                var next = policy with { Recording = false, RecordingSince = null };
                if (policy.RecordOnly)
                    ReplaceLocked(pod, container, next);
                else
                {
                    if (policy.BoundCgroupId != 0 && _binder.StopRecording(policy.BoundCgroupId) is { } problem)
                        LogRecordingProblem(pod.Namespace, pod.Name, container.Name, problem);
                    _table.Put(new ContainerEntry(container, next));
                }
                LogRecordingStopped(pod.Namespace, pod.Name, container.Name, container.Id);
                stopped.Add(container.Id);
            }
        }
        return stopped;
    }

    // After a fresh binding or for a bound container: the kernel starts recording, or goes on with the recording a
    // previous daemon left pinned (a restart must not lose what was recorded since the container's start).
    private ContainerPolicy StartRecordingLocked(PodRecord pod, ContainerRecord container, ContainerPolicy bound)
    {
        bool adopted = bound.RecordingSince is null && _binder.Bindings.Any(b => b.CgroupId == container.CgroupId && b.Recording);
        if (_binder.StartRecording(container.CgroupId, keepRunning: adopted) is { } problem)
        {
            LogRecordingProblem(pod.Namespace, pod.Name, container.Name, problem);
            return bound with { Recording = false, RecordingSince = null, Reason = $"recording failed: {problem}" };
        }
        LogRecordingStarted(pod.Namespace, pod.Name, container.Name, container.Id, bound.RecordOnly ? "unconfined (recording binding)" : bound.ProfileReference ?? "-", container.CgroupId);
        return bound with { Recording = true, RecordingSince = adopted ? null : DateTimeOffset.UtcNow };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Recording pod {Namespace}/{Pod} container {Container} ({ContainerId}) under profile {Profile}, cgroup {CgroupId}")]
    private partial void LogRecordingStarted(string @namespace, string pod, string container, string containerId, string profile, ulong cgroupId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recording pod {Namespace}/{Pod} container {Container} ({ContainerId}): also the values of {Arguments}")]
    private partial void LogRecordingArguments(string @namespace, string pod, string container, string containerId, string arguments);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped recording pod {Namespace}/{Pod} container {Container} ({ContainerId})")]
    private partial void LogRecordingStopped(string @namespace, string pod, string container, string containerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording pod {Namespace}/{Pod} container {Container}: {Problem}")]
    private partial void LogRecordingProblem(string @namespace, string pod, string container, string problem);
}
