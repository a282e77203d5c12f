using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SeccompEbpf.E2E.Tests;

internal static partial class ProcessStopping
{
    private const int SigTerm = 15;
    private const int SigInt = 2;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>SIGINT, as Ctrl-C in a terminal would: a CLI that waits ends the wait.</summary>
    public static void Interrupt(this Process process)
    {
        if (Kill(process.Id, SigInt) != 0)
            throw new InvalidOperationException($"kill({process.Id}, SIGINT) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>SIGTERM, as a service manager stops a daemon; SIGKILL if it has not exited within <paramref name="grace"/>.</summary>
    public static async Task StopGracefullyAsync(this Process process, TimeSpan grace)
    {
        if (process.HasExited)
            return;
        Kill(process.Id, SigTerm);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
