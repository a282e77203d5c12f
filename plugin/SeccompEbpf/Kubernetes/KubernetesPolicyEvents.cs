using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;

namespace SeccompEbpf.Kubernetes;

/// <summary>
/// Turns policy notices and ConfigMap profile edits into Kubernetes Events, and applies the configured fallback when
/// a ConfigMap profile in use is removed. Event reasons are listed in docs/kubernetes.md.
/// </summary>
internal sealed partial class KubernetesPolicyEvents(
    KubernetesEventRecorder recorder, KubernetesConnection connection, DaemonOptions options, PolicyController policies,
    ProfileStore profiles, EngineHost engine, ILogger<KubernetesPolicyEvents> logger) : IHostedService
{
    public const string Vetoed = "SeccompProfileVetoed";
    public const string NotEnforced = "SeccompNotEnforced";
    public const string Applied = "SeccompProfileApplied";
    public const string Changed = "SeccompProfileChanged";
    public const string Degraded = "SeccompEnforcementDegraded";
    public const string AnnotationRejected = "SeccompAnnotationRejected";
    public const string ProfileRejected = "SeccompProfileRejected";
    public const string ProfileRemoved = "SeccompProfileRemoved";
    public const string EngineUnavailable = "SeccompEnforcementUnavailable";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Removal fallback is policy, not reporting: it applies whether or not Events are posted.
        profiles.ConfigMapProfileRemoved += OnConfigMapProfileRemoved;
        if (!recorder.Enabled)
            return Task.CompletedTask;
        policies.Noticed += OnNotice;
        profiles.Rejected += OnProfileRejected;
        if (engine.Failure is { } failure && connection.NodeName is { } node)
            recorder.Post(KubernetesEventRecorder.Node(node), "Warning", EngineUnavailable, $"seccomp-ebpf cannot enforce any profile on node {node}: {failure}");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        policies.Noticed -= OnNotice;
        profiles.Rejected -= OnProfileRejected;
        profiles.ConfigMapProfileRemoved -= OnConfigMapProfileRemoved;
        return Task.CompletedTask;
    }

    private void OnNotice(PolicyNotice notice)
    {
        var (type, reason) = notice.Kind switch
        {
            PolicyNoticeKind.Vetoed => ("Warning", Vetoed),
            PolicyNoticeKind.NotEnforced => ("Warning", NotEnforced),
            PolicyNoticeKind.Applied => ("Normal", Applied),
            PolicyNoticeKind.Changed => ("Normal", Changed),
            PolicyNoticeKind.Degraded => ("Warning", Degraded),
            PolicyNoticeKind.AnnotationRejected => ("Warning", AnnotationRejected),
            PolicyNoticeKind.FellBack => ("Warning", ProfileRemoved),
            _ => ("Warning", ProfileRejected),
        };
        var message = notice.Message;
        if (notice.Kind == PolicyNoticeKind.Degraded && connection.NodeName is { } node)
            message += $" (node {node})";
        recorder.Post(KubernetesEventRecorder.Pod(notice.Namespace, notice.Pod, notice.PodUid), type, reason, message);
    }

    private void OnProfileRejected(string reference, string problem)
    {
        if (profiles.ConfigMapSourceOf(reference) is { } source)
        {
            recorder.Post(KubernetesEventRecorder.ConfigMap(source.Namespace, source.ConfigMap, source.ConfigMapUid), "Warning", ProfileRejected,
                $"key {source.Key} (profile {reference}) rejected, the last good version stays in force: {problem}");
        }
        foreach (var (pod, container) in policies.UsersOf(reference))
        {
            recorder.Post(KubernetesEventRecorder.Pod(pod.Namespace, pod.Name, pod.Uid), "Warning", ProfileRejected,
                $"container {container.Name}: an edit of profile {reference} was rejected, the last good version stays in force: {problem}");
        }
    }

    private void OnConfigMapProfileRemoved(string reference, string why)
    {
        if (options.Kubernetes.ProfileRemoved == ProfileRemovedAction.KeepLastVersion)
        {
            foreach (var (pod, container) in policies.UsersOf(reference))
            {
                LogKept(pod.Namespace, pod.Name, container.Name, reference);
                recorder.Post(KubernetesEventRecorder.Pod(pod.Namespace, pod.Name, pod.Uid), "Warning", ProfileRemoved,
                    $"container {container.Name}: {why}; its last version stays in force (kubernetes.onProfileRemoved: keep)");
            }
            return;
        }
        policies.FallBackFrom(reference, why);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pod {Namespace}/{Pod} container {Container}: profile {Profile} was removed; its last version stays in force")]
    private partial void LogKept(string @namespace, string pod, string container, string profile);
}
