using System.Diagnostics;
using SeccompEbpf.Daemon.Benchmarks;

// The daemon's NRI handlers on the real path (docs/performance.md): the published seccomp-ebpf binary, driven over the
// real NRI wire by the fake runtime, binding real cgroups (one sleeping process each) with real BPF maps.
//   cold:  N fresh daemon processes (pins detached in between): spawn -> connected -> RegisterPlugin -> Configure
//          answered -> Synchronize answered, then the first CreateContainer + StartContainer, and a second one;
//   warm:  one daemon, W warm-up then M measured Create/Start/Remove cycles with a binding; percentiles;
//   RSS:   idle after registration, then with 100 and 500 bound containers.
// Prints figures only; it asserts nothing about time.
string? daemonPath = null;
string label = "";
int coldRuns = 10, warmup = 300, measured = 2000, containers = 500;
var environment = new Dictionary<string, string>();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--daemon" when i + 1 < args.Length: daemonPath = args[++i]; break;
        case "--label" when i + 1 < args.Length: label = args[++i]; break;
        case "--cold-runs" when i + 1 < args.Length: coldRuns = int.Parse(args[++i]); break;
        case "--warmup" when i + 1 < args.Length: warmup = int.Parse(args[++i]); break;
        case "--measured" when i + 1 < args.Length: measured = int.Parse(args[++i]); break;
        case "--containers" when i + 1 < args.Length: containers = int.Parse(args[++i]); break;
        case "--env" when i + 1 < args.Length && args[i + 1].Contains('='):
            string[] pair = args[++i].Split('=', 2);
            environment[pair[0]] = pair[1];
            break;
        default:
            Console.Error.WriteLine($"""
                unexpected argument '{args[i]}'
                usage: SeccompEbpf.Daemon.Benchmarks --daemon PATH/seccomp-ebpf [--label TEXT] [--cold-runs 10] [--warmup 300]
                       [--measured 2000] [--containers 500] [--env NAME=VALUE]...   (root, BPF; see bench/SeccompEbpf.Daemon.Benchmarks/run.sh)
                """);
            return 2;
    }
}

if (daemonPath is null || !File.Exists(daemonPath))
{
    Console.Error.WriteLine($"--daemon PATH: the published seccomp-ebpf executable is required (got '{daemonPath}')");
    return 2;
}

string work = Path.Join("/tmp", $"sebench-{Environment.ProcessId}");
Directory.CreateDirectory(work);
using var cgroups = ScratchCgroups.Create();
Console.WriteLine($"daemon {daemonPath} {label}; env: {(environment.Count == 0 ? "(none)" : string.Join(' ', environment.Select(e => $"{e.Key}={e.Value}")))}");
Console.WriteLine($"scratch cgroup {cgroups.Root}, work dir {work}; {Environment.ProcessorCount} CPUs");

// --- cold: a fresh process per run ---
// Runs alternate between a node's first start of the boot (no capability record: every probe program is loaded) and a
// restart (an upgrade or a crash: the record of this boot is reused). Pins are detached before each run either way.
const string CapabilityRecord = "/run/seccomp-ebpf/kernel-capabilities.json"; // the daemon's EngineHost.CapabilityRecordPath
var firstOfBoot = new ColdFigures();
var restart = new ColdFigures();
var idleRss = new List<double>();
for (int run = 0; run < coldRuns; run++)
{
    var figures = run % 2 == 0 ? firstOfBoot : restart;
    if (figures == firstOfBoot)
        File.Delete(CapabilityRecord);
    var (daemon, times) = await DaemonUnderTest.StartAsync(daemonPath, Path.Join(work, $"cold{run}"), environment, CancellationToken.None);
    await using (daemon)
    {
        figures.Connected.Add(times.ConnectedMs);
        figures.RegisterPlugin.Add(times.RegisterPluginMs);
        figures.Configured.Add(times.ConfigureAnsweredMs);
        figures.Synchronized.Add(times.SynchronizeAnsweredMs);

        var pod = DaemonUnderTest.Pod($"cold{run}", "runtime/default");
        var first = DaemonUnderTest.Container(pod, "first", cgroups.PidOf(0));
        long t0 = Stopwatch.GetTimestamp();
        await daemon.CreateContainerAsync(pod, first);
        long t1 = Stopwatch.GetTimestamp();
        await daemon.StartContainerAsync(pod, first);
        long t2 = Stopwatch.GetTimestamp();
        figures.FirstCreate.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
        figures.FirstStart.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
        figures.FirstBoth.Add(Stopwatch.GetElapsedTime(t0, t2).TotalMilliseconds);

        var second = DaemonUnderTest.Container(pod, "second", cgroups.PidOf(1));
        await daemon.CreateContainerAsync(pod, second);
        long t3 = Stopwatch.GetTimestamp();
        await daemon.StartContainerAsync(pod, second);
        figures.SecondStart.Add(Stopwatch.GetElapsedTime(t3).TotalMilliseconds);
        await daemon.WaitForBoundAsync(2, TimeSpan.FromSeconds(10));
        await daemon.RemoveContainerAsync(pod, first);
        await daemon.RemoveContainerAsync(pod, second);
        if (run == 0)
        {
            idleRss.Add(daemon.RssBytes() / 1048576.0); // after two bind/unbind cycles; the warm daemon's idle figure is below
        }
    }
}

foreach (var (kind, figures) in new[] { ("first start of the boot (no capability record)", firstOfBoot), ("restart (this boot's capability record reused)", restart) })
{
    if (figures.Synchronized.Count == 0)
        continue;
    Console.WriteLine();
    Console.WriteLine($"cold, {figures.Synchronized.Count} fresh daemon processes, {kind} (ms from spawn; first event = first CreateContainer + StartContainer with a binding):");
    Print("  spawn -> connected", figures.Connected, "ms");
    Print("  spawn -> RegisterPlugin", figures.RegisterPlugin, "ms");
    Print("  spawn -> Configure answered", figures.Configured, "ms");
    Print("  spawn -> Synchronize answered", figures.Synchronized, "ms");
    Print("  first CreateContainer", figures.FirstCreate, "ms");
    Print("  first StartContainer", figures.FirstStart, "ms");
    Print("  first Create+Start", figures.FirstBoth, "ms");
    Print("  second StartContainer", figures.SecondStart, "ms");
}

// --- warm and RSS: one daemon ---
{
    var (daemon, _) = await DaemonUnderTest.StartAsync(daemonPath, Path.Join(work, "warm"), environment, CancellationToken.None);
    await using (daemon)
    {
        await Task.Delay(TimeSpan.FromSeconds(3)); // let start-up work (profile preload, probes, timers) settle
        double idle = daemon.RssBytes() / 1048576.0;

        const int pool = 32;
        var pod = DaemonUnderTest.Pod("warm", "runtime/default");

        // One container stays bound throughout, as on any node with a managed pod: otherwise every Remove would unbind
        // the last binding and detach sys_enter, and every Start would attach it again (the cold figures include that).
        var anchor = DaemonUnderTest.Container(pod, "anchor", cgroups.PidOf(pool));
        await daemon.CreateContainerAsync(pod, anchor);
        await daemon.StartContainerAsync(pod, anchor);
        var create = new double[measured];
        var start = new double[measured];
        for (int i = 0; i < warmup + measured; i++)
        {
            var container = DaemonUnderTest.Container(pod, $"w{i}", cgroups.PidOf(i % pool));
            long t0 = Stopwatch.GetTimestamp();
            await daemon.CreateContainerAsync(pod, container);
            long t1 = Stopwatch.GetTimestamp();
            await daemon.StartContainerAsync(pod, container);
            long t2 = Stopwatch.GetTimestamp();
            await daemon.RemoveContainerAsync(pod, container);
            if (i >= warmup)
            {
                create[i - warmup] = Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds;
                start[i - warmup] = Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds;
            }
        }

        await daemon.WaitForBoundAsync(1 + warmup + measured, TimeSpan.FromSeconds(30));
        Console.WriteLine();
        Console.WriteLine($"warm, one daemon with one container bound throughout: {warmup} warm-up then {measured} measured Create/Start/Remove cycles, each a new container bound to runtime/default (round trip over the NRI socket):");
        Print("  CreateContainer", create, "us");
        Print("  StartContainer (binding)", start, "us");

        // Bound containers accumulate: each in its own cgroup with its own process.
        var bindStarts = new List<double>();
        var rss = new List<(int Containers, double Mb)> { (0, idle) };
        var podN = DaemonUnderTest.Pod("many", "runtime/default");
        int offset = pool + 1; // members beyond the warm pool and the anchor
        foreach (int target in new[] { 100, containers }.Where(t => t > 0).Distinct().Order())
        {
            for (int n = bindStarts.Count; n < target; n++)
            {
                var container = DaemonUnderTest.Container(podN, $"m{n}", cgroups.PidOf(offset + n));
                await daemon.CreateContainerAsync(podN, container);
                long t0 = Stopwatch.GetTimestamp();
                await daemon.StartContainerAsync(podN, container);
                bindStarts.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
            }

            await daemon.WaitForBoundAsync(1 + warmup + measured + target, TimeSpan.FromSeconds(60));
            await Task.Delay(TimeSpan.FromSeconds(3));
            rss.Add((target, daemon.RssBytes() / 1048576.0));
        }

        if (daemon.RefusedCount > 0)
        {
            Console.WriteLine($"WARNING: the daemon refused or vetoed {daemon.RefusedCount} containers: these figures are not the binding path (see {work}/warm/daemon.log)");
        }

        Print($"  StartContainer while binding up to {bindStarts.Count} containers", bindStarts, "us");
        Console.WriteLine();
        Console.WriteLine("RSS of the daemon (VmRSS, 3 s after the last event):");
        foreach (var (n, mb) in rss)
        {
            Console.WriteLine($"  {n,4} bound containers: {mb,6:0.0} MB");
        }

        Console.WriteLine($"  (first cold daemon after two bind/unbind cycles: {idleRss.FirstOrDefault():0.0} MB)");
    }
}

try
{
    Directory.Delete(work, recursive: true);
}
catch (IOException)
{
}

return 0;

static void Print(string what, IReadOnlyCollection<double> values, string unit)
{
    double[] sorted = [.. values.Order()];
    double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1 < 0 ? 0 : (int)Math.Ceiling(q * sorted.Length) - 1)];
    string f = unit == "us" ? "0" : "0.0";
    string line = sorted.Length >= 100
        ? $"p50 {P(0.50).ToString(f)}  p90 {P(0.90).ToString(f)}  p99 {P(0.99).ToString(f)}  p99.9 {P(0.999).ToString(f)}  max {sorted[^1].ToString(f)}"
        : $"min {sorted[0].ToString(f)}  p50 {P(0.50).ToString(f)}  max {sorted[^1].ToString(f)}  (all: {string.Join(' ', values.Select(v => v.ToString(f)))})";
    Console.WriteLine($"{what,-46} {unit,-2}  n={sorted.Length,-5} {line}");
}

/// <summary>What the cold runs of one kind measured.</summary>
internal sealed class ColdFigures
{
    public List<double> Connected { get; } = [];
    public List<double> RegisterPlugin { get; } = [];
    public List<double> Configured { get; } = [];
    public List<double> Synchronized { get; } = [];
    public List<double> FirstCreate { get; } = [];
    public List<double> FirstStart { get; } = [];
    public List<double> FirstBoth { get; } = [];
    public List<double> SecondStart { get; } = [];
}
