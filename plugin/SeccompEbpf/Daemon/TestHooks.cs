namespace SeccompEbpf.Daemon;

/// <summary>
/// Fault injection for the end-to-end tests, read once from the environment. Production never sets these; the daemon
/// logs a warning at start when one is set, so a hook can never act unnoticed.
/// </summary>
internal static class TestHooks
{
    /// <summary>
    /// SECCOMP_EBPF_TEST_HOOK_SYNCHRONIZE_DELAY_MS: the first Synchronize reply of this process is held that long, as a
    /// loaded node would hold it (tests/SeccompEbpf.E2E.Tests: a late Synchronize must make the daemon register again).
    /// </summary>
    public static readonly TimeSpan FirstSynchronizeDelay = Milliseconds("SECCOMP_EBPF_TEST_HOOK_SYNCHRONIZE_DELAY_MS");

    /// <summary>
    /// SECCOMP_EBPF_TEST_HOOK_START_DELAY_MS: the first StartContainer policy decision of this process blocks that long
    /// (a stuck lock): the handler's deadline must answer containerd in time anyway.
    /// </summary>
    public static readonly TimeSpan FirstStartDecisionDelay = Milliseconds("SECCOMP_EBPF_TEST_HOOK_START_DELAY_MS");

    private static int s_synchronizeDelayUsed;
    private static int s_startDelayUsed;

    /// <summary>The names and values of the hooks set in this process, for the start-up warning.</summary>
    public static IEnumerable<string> Active()
    {
        if (FirstSynchronizeDelay > TimeSpan.Zero)
            yield return $"SECCOMP_EBPF_TEST_HOOK_SYNCHRONIZE_DELAY_MS={FirstSynchronizeDelay.TotalMilliseconds}";
        if (FirstStartDecisionDelay > TimeSpan.Zero)
            yield return $"SECCOMP_EBPF_TEST_HOOK_START_DELAY_MS={FirstStartDecisionDelay.TotalMilliseconds}";
    }

    /// <summary>Blocks the calling thread once per process for the StartContainer delay.</summary>
    public static void DelayFirstStartDecision()
    {
        if (FirstStartDecisionDelay > TimeSpan.Zero && Interlocked.Exchange(ref s_startDelayUsed, 1) == 0)
            Thread.Sleep(FirstStartDecisionDelay);
    }

    /// <summary>Waits out the Synchronize delay once per process, ignoring cancellation as a blocked handler would.</summary>
    public static Task DelayFirstSynchronizeAsync() =>
        FirstSynchronizeDelay > TimeSpan.Zero && Interlocked.Exchange(ref s_synchronizeDelayUsed, 1) == 0
            ? Task.Delay(FirstSynchronizeDelay, CancellationToken.None)
            : Task.CompletedTask;

    private static TimeSpan Milliseconds(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var ms) && ms > 0 ? TimeSpan.FromMilliseconds(ms) : TimeSpan.Zero;
}
