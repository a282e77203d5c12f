using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Kubernetes;

/// <summary>What one list-and-watch loop needs to know about its resource.</summary>
internal interface IListWatchTarget<T, TList>
    where T : IKubernetesObject<V1ObjectMeta>
    where TList : IMetadata<V1ListMeta>, IItems<T>
{
    /// <summary>For logs: "pods on node X".</summary>
    string Describe { get; }

    Task<TList> ListAsync(CancellationToken ct);

    /// <summary>The watch stream from <paramref name="resourceVersion"/>; ERROR events (a Status) go to <paramref name="onError"/>.</summary>
    IAsyncEnumerable<(WatchEventType, T)> WatchAsync(string resourceVersion, Action<Exception> onError, CancellationToken ct);

    /// <summary>A fresh list replaced everything (first list, or after the watch expired).</summary>
    void Replace(IReadOnlyList<T> items);

    void Apply(WatchEventType type, T item);
}

/// <summary>
/// List, then watch from the list's resourceVersion with bookmarks; resume from the last version seen when the watch
/// ends or fails, relist when the server says that version is gone (410, as a status code or an ERROR event).
/// Transport errors back off from 200 ms to 5 s.
/// </summary>
internal sealed partial class ListWatch<T, TList>(IListWatchTarget<T, TList> target, ILogger logger)
    where T : IKubernetesObject<V1ObjectMeta>
    where TList : IMetadata<V1ListMeta>, IItems<T>
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ListTimeout = TimeSpan.FromSeconds(60);
    private readonly TaskCompletionSource _firstList = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes after the first successful list.</summary>
    public Task FirstList => _firstList.Task;

    public string? ResourceVersion { get; private set; }

    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = MinBackoff;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (ResourceVersion is null)
                {
                    // The client has no overall timeout (watches last minutes): bound the list here.
                    using var listTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    listTimeout.CancelAfter(ListTimeout);
                    var list = await target.ListAsync(listTimeout.Token).ConfigureAwait(false);
                    ResourceVersion = list.Metadata?.ResourceVersion ?? "";
                    target.Replace(list.Items?.ToList() ?? []);
                    LogListed(logger, target.Describe, list.Items?.Count ?? 0, ResourceVersion);
                    _firstList.TrySetResult();
                }
                var started = DateTime.UtcNow;
                var events = await WatchOnceAsync(ct).ConfigureAwait(false);
                if (ResourceVersion is null)
                    continue; // expired: relist now
                if (events == 0 && DateTime.UtcNow - started < TimeSpan.FromSeconds(1))
                    throw new IOException("the watch closed at once without an event");
                backoff = MinBackoff;
            }
            catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.Gone)
            {
                LogExpired(logger, target.Describe, ResourceVersion ?? "", "410 Gone");
                ResourceVersion = null;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogFailed(logger, target.Describe, ResourceVersion ?? "(none)", (int)backoff.TotalMilliseconds, e.Message);
                try
                {
                    await Task.Delay(backoff, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    private async Task<int> WatchOnceAsync(CancellationToken ct)
    {
        string? expired = null;
        Exception? failure = null;
        var count = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var stream = target.WatchAsync(ResourceVersion!,
            e =>
            {
                if (e is KubernetesException { Status.Code: 410 } gone)
                    expired = gone.Status.Message ?? "410 Gone";
                else
                    failure = e;
                stop.Cancel(); // an ERROR event ends this watch; the server closes it too
            },
            stop.Token);
        try
        {
            await foreach (var (type, item) in stream.ConfigureAwait(false))
            {
                count++;
                if (item?.Metadata?.ResourceVersion is { Length: > 0 } rv)
                    ResourceVersion = rv;
                if (type != WatchEventType.Bookmark && item is not null)
                    target.Apply(type, item);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && (expired is not null || failure is not null))
        {
        }
        if (expired is not null)
        {
            LogExpired(logger, target.Describe, ResourceVersion ?? "", expired);
            ResourceVersion = null;
        }
        else if (failure is not null)
        {
            throw new IOException($"watch error: {failure.Message}", failure);
        }
        return count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listed {What}: {Count} items at resourceVersion {ResourceVersion}; watching")]
    private static partial void LogListed(ILogger logger, string what, int count, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {What} expired at resourceVersion {ResourceVersion} ({Reason}); relisting")]
    private static partial void LogExpired(ILogger logger, string what, string resourceVersion, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {What} failed at resourceVersion {ResourceVersion}; retrying in {BackoffMilliseconds} ms: {Problem}")]
    private static partial void LogFailed(ILogger logger, string what, string resourceVersion, int backoffMilliseconds, string problem);
}
