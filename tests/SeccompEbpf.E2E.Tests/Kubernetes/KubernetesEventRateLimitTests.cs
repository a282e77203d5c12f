using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>Events are folded when identical and capped per minute; the rest are counted, never queued forever.</summary>
public sealed class KubernetesEventRateLimitTests(ITestOutputHelper output) : KubernetesTestBed(output)
{
    private readonly int _port = FreePort();

    protected override int EventsPerMinute => 3;

    protected override int? MetricsPort => _port;

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Identical_events_are_folded_and_beyond_the_rate_limit_events_are_dropped_and_counted()
    {
        WriteProfile("churn", LogPersonality);
        var pod = await RunPodAsync("noisy", GatedProbe, Profile("churn"));                   // 1: Applied
        foreach (var mode in new[] { "audit", "enforce", "audit" })                          // 2, 3: Changed; 4: identical to 2, folded
        {
            var (code, _, stderr) = await CliAsync("apply", "--pod", "default/noisy", "--mode", mode);
            Assert.True(code == 0, stderr);
        }
        var others = new[] { "getcwd", "uname", "sysinfo" };
        for (var i = 0; i < others.Length; i++)                                              // 5-7: distinct, over the limit: dropped
        {
            WriteProfile("churn", $$"""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality","{{others[i]}}"],"action":"SCMP_ACT_LOG"}]}""");
            var version = i + 2;
            await Daemon.WaitForAsync(e => e.Message.Contains($"to profile churn v{version}", StringComparison.Ordinal), Patience, $"the rebind to churn v{version}");
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}") };
        var deadline = DateTime.UtcNow + Patience;
        Dictionary<string, long> results;
        while (true)
        {
            var metrics = await http.GetStringAsync("/metrics");
            results = Regex.Matches(metrics, """(?m)^seccomp_ebpf_kubernetes_events_total\{result="(\w+)"\} (\d+)$""")
                .ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value));
            if (results.Values.Sum() >= 7 || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(100);
        }
        Output.WriteLine(string.Join(", ", results.Select(r => $"{r.Key}={r.Value}")));
        Assert.Equal(3, results["posted"]);
        Assert.Equal(1, results["folded"]);
        Assert.Equal(3, results["dropped"]);
        Assert.Equal(0, results["failed"]);
        var received = Api.Events.Where(e => On(e, "Pod", "default", "noisy", pod.Uid)).Select(Reason).ToList();
        Assert.Equal(["SeccompProfileApplied", "SeccompProfileChanged", "SeccompProfileChanged"], received);
    }
}
