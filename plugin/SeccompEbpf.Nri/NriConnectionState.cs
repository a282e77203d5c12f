namespace SeccompEbpf.Nri;

/// <summary>A step in the life of the plugin's connection to the runtime, reported by <see cref="NriPlugin.StateChanged"/>.</summary>
public abstract record NriConnectionState
{
    private NriConnectionState() { }

    /// <summary>Connecting to the runtime (socket path, or "fd N" in pre-installed mode).</summary>
    public sealed record Connecting(string Endpoint) : NriConnectionState;

    /// <summary>Registered and configured; <paramref name="EventMask"/> is the subscription that was returned.</summary>
    public sealed record Registered(NriRuntimeInfo Runtime, int EventMask) : NriConnectionState;

    /// <summary>The (possibly split) Synchronize was delivered.</summary>
    public sealed record Synchronized(int Pods, int Containers) : NriConnectionState;

    /// <summary>The connection ended; <paramref name="Reason"/> says why.</summary>
    public sealed record Disconnected(string Reason, Exception? Error) : NriConnectionState
    {
        // The reason already says what happened; a reconnecting plugin logs this every second, so no stack traces.
        /// <inheritdoc/>
        public override string ToString()
            => Error is null || Reason.Contains(Error.Message, StringComparison.Ordinal)
                ? $"Disconnected: {Reason}"
                : $"Disconnected: {Reason} ({Error.GetType().Name}: {Error.Message})";
    }
}
