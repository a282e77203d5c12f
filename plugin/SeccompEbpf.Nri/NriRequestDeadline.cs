namespace SeccompEbpf.Nri;

/// <summary>
/// The time the runtime gave the request a handler is serving: the ttrpc <c>timeout_nano</c> of that request. The
/// runtime gives up on the reply (and containerd drops the plugin) when it passes. containerd 1.7 sends no request
/// timeout in Configure, so this is the only place a handler learns the real limit (for example 30 s under a slow VM).
/// </summary>
public static class NriRequestDeadline
{
    private static readonly AsyncLocal<TimeSpan?> s_timeout = new();

    /// <summary>The current request's timeout as the runtime set it; null outside a handler or when none was set.</summary>
    public static TimeSpan? Timeout => s_timeout.Value;

    internal static void Set(TimeSpan? timeout) => s_timeout.Value = timeout;
}
