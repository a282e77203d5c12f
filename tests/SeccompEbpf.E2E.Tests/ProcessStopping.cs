using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SeccompEbpf.E2E.Tests;

internal static partial class ProcessStopping
{
    private const int SigTerm = 15;
    private const int SigInt = 2;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>
    /// <paramref name="start"/> run through <c>env --default-signal=INT</c> (coreutils 8.31+), so that
    /// <see cref="Interrupt"/> reaches it as Ctrl-C would. A background job of a non-interactive shell (how CI may be
    /// started) inherits SIGINT ignored, and .NET then never installs its handler: <c>Console.CancelKeyPress</c>
    /// would not fire and the SIGINT would be lost.
    /// </summary>
    public static ProcessStartInfo Interruptible(this ProcessStartInfo start)
    {
        var viaEnv = new ProcessStartInfo("env")
        {
            RedirectStandardInput = start.RedirectStandardInput,
            RedirectStandardOutput = start.RedirectStandardOutput,
            RedirectStandardError = start.RedirectStandardError,
        };
        viaEnv.ArgumentList.Add("--default-signal=INT");
        viaEnv.ArgumentList.Add(start.FileName);
        foreach (string arg in start.ArgumentList)
            viaEnv.ArgumentList.Add(arg);
        return viaEnv;
    }

    /// <summary>SIGINT, as Ctrl-C in a terminal would: a CLI that waits ends the wait (start it <see cref="Interruptible"/>).</summary>
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
