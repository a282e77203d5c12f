using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Lifecycle;

/// <summary>What happened to a container's policy that its owner should hear about (Kubernetes Events).</summary>
internal enum PolicyNoticeKind { Vetoed, NotEnforced, Applied, Changed, Degraded, AnnotationRejected, FellBack, ProfileRejected }

/// <summary>One notice about a container of a pod; <see cref="Message"/> is complete and human-readable.</summary>
internal sealed record PolicyNotice(PolicyNoticeKind Kind, string Namespace, string Pod, string PodUid, string Container, string Message);

/// <summary>
/// Notices leave after the table's lock is released (ARCHITECTURE.md, "The daemon core"): a subscriber that blocks or
/// calls back into the controller never runs under it. They queue here while the lock is held and go out, in order,
/// when its last holder leaves it.
/// </summary>
internal sealed partial class NoticeOutbox(ILogger logger)
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<PolicyNotice> _queue = new();
    private readonly Lock _publishing = new();

    /// <summary>Raised after the table's lock is released, in the order the notices were raised.</summary>
    public event Action<PolicyNotice>? Noticed;

    public void Enqueue(PolicyNotice notice)
    {
        if (Noticed is not null)
            _queue.Enqueue(notice);
    }

    /// <summary>Hands every queued notice to the subscribers; called with the table's lock released.</summary>
    public void Publish()
    {
        if (_queue.IsEmpty)
            return;
        lock (_publishing)
        {
            while (_queue.TryDequeue(out var notice))
            {
                try
                {
                    Noticed?.Invoke(notice);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Reporting must never get in the way of enforcement.
                    LogNoticeFailed(notice.Kind.ToString(), e.Message);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Notice} notice could not be reported: {Problem}")]
    private partial void LogNoticeFailed(string notice, string problem);
}
