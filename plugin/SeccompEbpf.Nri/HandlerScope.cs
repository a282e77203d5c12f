namespace SeccompEbpf.Nri;

/// <summary>
/// Marks the async flow of a running event handler. The runtime holds its locks while it waits for a handler,
/// so an UpdateContainers call made from inside one must be queued, not awaited.
/// </summary>
internal sealed class HandlerScope : IDisposable
{
    private static readonly AsyncLocal<HandlerScope?> s_current = new();
    private volatile bool _returned;

    /// <summary>True in a handler's own flow (and tasks it started) until that handler returned.</summary>
    public static bool InsideHandler => s_current.Value is { _returned: false };

    /// <summary>Call from the async method that awaits the handler; the value reverts when that method returns.</summary>
    public static HandlerScope Enter()
    {
        var scope = new HandlerScope();
        s_current.Value = scope;
        return scope;
    }

    public void Dispose() => _returned = true;
}
