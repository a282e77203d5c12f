using System.Text.Json;
using SeccompEbpf.E2E.Tests.Containerd;

namespace SeccompEbpf.E2E.Tests;

/// <summary>The real <c>seccomp-ebpf</c> CLI against a test daemon's control socket.</summary>
internal static class DaemonCli
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(DaemonConfig config, params string[] args) =>
        await Exec.TryRunAsync(DaemonProcess.ExecutablePath, [.. args, "--socket", config.ControlSocket]);

    /// <summary>The container's row of <c>ps --json</c>.</summary>
    public static async Task<JsonElement> PsRowAsync(DaemonConfig config, string containerId)
    {
        var (code, ps, stderr) = await RunAsync(config, "ps", "--json");
        Assert.True(code == 0, $"ps failed: {stderr}");
        return JsonDocument.Parse(ps).RootElement.EnumerateArray().Single(r => r.GetProperty("containerId").GetString() == containerId).Clone();
    }

    /// <summary>The pod's events, from <c>events --json</c>.</summary>
    public static async Task<List<JsonElement>> EventsAsync(DaemonConfig config, string pod)
    {
        var (code, stdout, stderr) = await RunAsync(config, "events", "--json", "--pod", pod);
        Assert.True(code == 0, $"events failed: {stderr}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }
}
