using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>The Prometheus endpoint and health probes, on a daemon without any Kubernetes API (the plain host case).</summary>
public sealed partial class KubernetesMetricsTests(ITestOutputHelper output) : KubernetesTestBed(output)
{
    private readonly int _port = FreePort();

    protected override bool UseFakeApiServer => false;

    protected override int? MetricsPort => _port;

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Metrics_are_served_when_enabled_with_decisions_per_pod_and_health_endpoints()
    {
        var off = Daemon.Entries.SingleOrDefault(e => e.Message.StartsWith("Kubernetes integration off", StringComparison.Ordinal));
        Assert.True(off is not null, "the daemon did not say once that the Kubernetes integration is off:\n" + Daemon.Tail(30));

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}") };
        var pod = await RunPodAsync("scraped", Probe, Profile("log-personality"), inApi: false);
        await WaitForSyscallEventAsync("default/scraped", "Log");

        string metrics = "";
        var deadline = DateTime.UtcNow + Patience;
        ulong logged = 0;
        while (DateTime.UtcNow < deadline)
        {
            metrics = await http.GetStringAsync("/metrics");
            var match = DecisionLine().Match(metrics);
            if (match.Success && (logged = ulong.Parse(match.Groups["count"].Value)) > 0)
                break;
            await Task.Delay(100);
        }
        Output.WriteLine(metrics);
        Assert.True(logged > 0, "no seccomp_ebpf_decisions_total sample for pod default/scraped container probe action Log");
        Assert.Contains($"container_id=\"{pod.ContainerId[..12]}\"", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_ringbuffer_drops_total \d+$", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_bound_containers\{state=""enforced""\} [1-9]\d*$", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_nri_handler_duration_seconds_count\{event=""StartContainer""\} [1-9]\d*$", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_engine_decisions_total\{action=""Log""\} [1-9]\d*$", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_degraded_containers 0$", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_container_syscalls\{namespace=""default"",pod=""scraped"",container=""probe"",container_id=""[0-9a-f]{12}"",class=""exact""\} [1-9]\d*$", metrics);
        Assert.Matches(@"(?m)^seccomp_ebpf_engine_available 1$", metrics);
        // Every sample belongs to a declared family (a scraper rejects anything else).
        var families = Regex.Matches(metrics, @"(?m)^# TYPE (\S+) (\S+)$").Select(m => m.Groups[1].Value).ToHashSet();
        foreach (var sample in metrics.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            var name = Regex.Match(sample, @"^[a-zA-Z_:][a-zA-Z0-9_:]*").Value;
            Assert.True(families.Contains(name) || families.Contains(Regex.Replace(name, "_(bucket|sum|count)$", "")), $"sample without a # TYPE: {sample}");
        }

        var health = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var ready = await http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("\"ready\":true", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/nope")).StatusCode);

        // Without an API server the client library is never loaded, even after pods, events and scrapes (its start-up
        // time and memory are for clusters only: docs/performance.md).
        Assert.DoesNotContain("KubernetesClient.dll", File.ReadAllText($"/proc/{Daemon.Pid}/maps"));
    }

    [GeneratedRegex("""(?m)^seccomp_ebpf_decisions_total\{namespace="default",pod="scraped",container="probe",container_id="[0-9a-f]{12}",action="Log"\} (?<count>\d+)$""")]
    private static partial Regex DecisionLine();
}
