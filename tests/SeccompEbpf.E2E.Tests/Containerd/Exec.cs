using System.Diagnostics;

namespace SeccompEbpf.E2E.Tests.Containerd;

/// <summary>Runs helper commands, failing with their output.</summary>
internal static class Exec
{
    public static async Task<string> RunAsync(string file, string[] args, CancellationToken ct = default)
    {
        var (code, stdout, stderr) = await TryRunAsync(file, args, ct);
        if (code != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {code}: {stdout}{stderr}");
        return stdout;
    }

    public static async Task<(int Code, string Stdout, string Stderr)> TryRunAsync(string file, string[] args, CancellationToken ct = default)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await stdout, await stderr);
    }
}
