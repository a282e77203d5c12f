// Per-syscall cost of the enforcement engine (tight getppid loop in a native process) and kernel
// memory per bound profile. Run through bench/bpf/run.sh, as root.
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: SeccompEbpf.Bpf.Bench <getppid-loop binary> <iterations> [rounds]");
    return 2;
}
string loop = args[0];
long iterations = long.Parse(args[1]);
int rounds = args.Length > 2 ? int.Parse(args[2]) : 7;
const uint X86_64 = 0xC000003E, Getppid = 110;

using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
string cgroupRoot = CgroupFs.Cgroup2Mount();
string managedDir = Path.Combine(cgroupRoot, $"seccomp-ebpf-bench-managed-{Environment.ProcessId}");
string otherDir = Path.Combine(cgroupRoot, $"seccomp-ebpf-bench-other-{Environment.ProcessId}");
string secondDir = Path.Combine(cgroupRoot, $"seccomp-ebpf-bench-second-{Environment.ProcessId}");
string pinRoot = $"/sys/fs/bpf/seccomp-ebpf-bench-{Environment.ProcessId}";
foreach (var dir in new[] { managedDir, otherDir, secondDir })
    Directory.CreateDirectory(dir);

// A sys_enter program left attached by an earlier run (a pinned link outlives its daemon) would be measured too.
string AttachedSysEnter()
{
    var info = new ProcessStartInfo("bpftool", ["link", "list", "--json"]) { RedirectStandardOutput = true, RedirectStandardError = true };
    using var p = Process.Start(info)!;
    string json = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    using var doc = System.Text.Json.JsonDocument.Parse(string.IsNullOrWhiteSpace(json) ? "[]" : json);
    return string.Join(", ", doc.RootElement.EnumerateArray()
        .Where(l => l.TryGetProperty("tp_name", out var tp) && tp.GetString() == "sys_enter")
        .Select(l => $"link {l.GetProperty("id")} (prog {l.GetProperty("prog_id")})"));
}
if (AttachedSysEnter() is { Length: > 0 } stale)
{
    Console.Error.WriteLine($"a sys_enter program is already attached ({stale}): every row would include it. Remove it first (seccomp-ebpf detach).");
    return 3;
}

// run time of a program as the kernel measures it (kernel.bpf_stats_enabled): only in the separate per-program pass
(long RunTimeNs, long RunCount) ProgramStats(string name)
{
    var info = new ProcessStartInfo("bpftool", ["prog", "show", "name", name, "--json"]) { RedirectStandardOutput = true, RedirectStandardError = true };
    using var p = Process.Start(info)!;
    string json = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    long time = 0, count = 0;
    if (string.IsNullOrWhiteSpace(json))
        return (0, 0);
    using var doc = System.Text.Json.JsonDocument.Parse(json.Trim().StartsWith('[') ? json : $"[{json}]");
    foreach (var prog in doc.RootElement.EnumerateArray())
    {
        if (prog.TryGetProperty("run_time_ns", out var t)) time += t.GetInt64();
        if (prog.TryGetProperty("run_cnt", out var c)) count += c.GetInt64();
    }
    return (time, count);
}
void BpfStats(bool on) => File.WriteAllText("/proc/sys/kernel/bpf_stats_enabled", on ? "1" : "0");

double Measure(string cgroupDir, bool seccomp = false, long? calls = null)
{
    var info = new ProcessStartInfo(loop) { RedirectStandardOutput = true, RedirectStandardError = true };
    info.ArgumentList.Add(cgroupDir);
    info.ArgumentList.Add((calls ?? iterations).ToString());
    if (seccomp)
        info.ArgumentList.Add("--seccomp");
    using var p = Process.Start(info)!;
    string output = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0 || !output.StartsWith("ns_per_call ", StringComparison.Ordinal))
        throw new InvalidOperationException($"getppid-loop failed ({p.ExitCode}): {output} {p.StandardError.ReadToEnd()}");
    return double.Parse(output["ns_per_call ".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
}

// The floor of this design: a program on sys_enter that does nothing (bpf/lib/probes.h), attached alone.
SeccompEbpf.Bpf.Interop.SafeBpfLinkHandle AttachNoOp(SeccompEbpf.Bpf.Interop.BpfObject noop, string program) => noop.Attach(program);

// Docker's default profile in size: ~350 named syscalls (getppid allowed), clone/personality rules, ERRNO(EPERM) default
CompiledProfile DockerSized(CompiledAction getppid, string label, bool getppidRules = false)
{
    var syscalls = new List<CompiledSyscall>();
    for (uint nr = 0; nr < 335; nr++)
        syscalls.Add(nr switch
        {
            56 => new CompiledSyscall(nr, [new CompiledRule([new ArgCheck(0, CompareOp.MaskedEqual, 0x7E020000, 0)], CompiledAction.Allow)], CompiledAction.Errno(1)),
            135 => new CompiledSyscall(nr, new ulong[] { 0, 8, 0x20000, 0x20008, 0xffffffff }.Select(v => new CompiledRule([new ArgCheck(0, CompareOp.Equal, v)], CompiledAction.Allow)).ToList(), CompiledAction.Errno(1)),
            // two rules that never hold for the loop's arguments (all zero): both walked, then the fallback
            Getppid when getppidRules => new CompiledSyscall(nr,
                [
                    new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0x5EED), new ArgCheck(1, CompareOp.GreaterThan, 7)], new CompiledAction(SeccompAction.Log)),
                    new CompiledRule([new ArgCheck(2, CompareOp.MaskedEqual, 0xff, 0x42)], CompiledAction.Errno(1)),
                ], getppid),
            Getppid => new CompiledSyscall(nr, [], getppid),
            _ => new CompiledSyscall(nr, [], CompiledAction.Allow),
        });
    for (uint nr = 424; nr < 440; nr++)
        syscalls.Add(new CompiledSyscall(nr, [], CompiledAction.Allow));
    string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(label)));
    return new CompiledProfile(hash, new CompiledAction(SeccompAction.KillProcess), [new CompiledArch(X86_64, CompiledAction.Errno(1), null, syscalls)]);
}

string eventsLine = "";
var samples = new Dictionary<string, List<double>>();
var programNs = new Dictionary<string, List<double>>();
const string Bare = "bare: nothing attached";
const string Seccomp = "kernel seccomp, same Docker-sized allowlist (libseccomp), filtered process";
const string FloorRawTp = "floor: no-op raw_tp/sys_enter program";
const string FloorTpBtf = "no-op tp_btf/sys_enter program";
const string NoBinding = "engine loaded, no binding (sys_enter detached)";
const string Unmanaged = "unmanaged process, some container bound";
const string ManagedAllowed = "managed, getppid allowed (Docker-sized profile)";
const string ManagedRecording = "managed, getppid allowed, container recording (bit already set: lookup + test)";
const string ManagedShadow = "managed, getppid allowed, Docker-sized shadow allowing it too (lookup + shadow's bitmap)";
const string ManagedRules = "managed, getppid with argument rules (2 rules walked, falls back to allow)";
const string ManagedLogged = "managed, getppid logged (default rate limit 1000/s per container)";
string[] order = [Bare, Seccomp, FloorRawTp, FloorTpBtf, NoBinding, Unmanaged, ManagedAllowed, ManagedRecording, ManagedShadow, ManagedRules, ManagedLogged];
foreach (var row in order)
    samples[row] = [];

try
{
    BpfStats(false);
    // ERRNO default cannot be prevented on a kernel without BPF LSM: degrade it to LOG for the benchmark
    var options = new EngineOptions { PinRoot = pinRoot, OnUnenforceable = UnenforceablePolicy.DegradeToLog, DetachOnExit = true };
    using var engine = EnforcementEngine.Open(options, loggers);
    using var noop = SeccompEbpf.Bpf.Interop.BpfObject.Open(SeccompEbpf.Bpf.Interop.BpfObject.EmbeddedImage(), "floor");
    foreach (var program in noop.ProgramNames)
        noop.SetAutoload(program, program is "probe_raw_tp" or "probe_tp_btf");
    noop.Load();

    ulong managed = CgroupFs.IdOf(managedDir);
    var allowProfile = DockerSized(CompiledAction.Allow, "bench-allow");
    var rulesProfile = DockerSized(CompiledAction.Allow, "bench-rules", getppidRules: true);
    var logProfile = DockerSized(new CompiledAction(SeccompAction.Log), "bench-log");
    var shadowProfile = DockerSized(CompiledAction.Allow, "bench-shadow");
    var before = engine.MapMemory();
    engine.Bind(managed, allowProfile, EnforcementMode.Enforce);
    var afterOne = engine.MapMemory();
    engine.Bind(CgroupFs.IdOf(secondDir), allowProfile, EnforcementMode.Enforce);
    var afterTwo = engine.MapMemory();
    engine.Unbind(CgroupFs.IdOf(secondDir));
    engine.Unbind(managed);

    // Interleaved: every round measures every configuration once, so drift and other load spread over all rows.
    void Round(Action<string, Func<double>> sample)
    {
        sample(Bare, () => Measure(otherDir));
        sample(Seccomp, () => Measure(otherDir, seccomp: true));
        using (AttachNoOp(noop, "probe_raw_tp"))
            sample(FloorRawTp, () => Measure(otherDir));
        using (AttachNoOp(noop, "probe_tp_btf"))
            sample(FloorTpBtf, () => Measure(otherDir));
        sample(NoBinding, () => Measure(otherDir));
        engine.Bind(managed, allowProfile, EnforcementMode.Enforce);
        sample(Unmanaged, () => Measure(otherDir));
        sample(ManagedAllowed, () => Measure(managedDir));
        engine.StartRecording(managed);
        sample(ManagedRecording, () => Measure(managedDir));
        engine.StopRecording(managed);
        engine.SetShadow(managed, shadowProfile);
        sample(ManagedShadow, () => Measure(managedDir));
        engine.ClearShadow(managed);
        engine.Rebind(managed, rulesProfile, EnforcementMode.Enforce);
        sample(ManagedRules, () => Measure(managedDir));
        engine.Rebind(managed, logProfile, EnforcementMode.Enforce);
        sample(ManagedLogged, () => Measure(managedDir));
        engine.Unbind(managed);
    }

    for (int round = 0; round < rounds; round++)
        Round((row, measure) => samples[row].Add(measure()));

    // Per-program pass, separate: bpf_stats adds its own time to every program run.
    BpfStats(true);
    try
    {
        void ProgramRow(string row, string program, Func<double> measure)
        {
            var start = ProgramStats(program);
            measure();
            var end = ProgramStats(program);
            long runs = end.RunCount - start.RunCount;
            if (runs > 0)
                (programNs.TryGetValue(row, out var list) ? list : programNs[row] = []).Add((double)(end.RunTimeNs - start.RunTimeNs) / runs);
        }
        long calls = Math.Min(iterations, 1_000_000);
        for (int pass = 0; pass < 3; pass++)
        {
            using (AttachNoOp(noop, "probe_raw_tp"))
                ProgramRow(FloorRawTp, "probe_raw_tp", () => Measure(otherDir, calls: calls));
            engine.Bind(managed, allowProfile, EnforcementMode.Enforce);
            ProgramRow(Unmanaged, EnforcementEngine.SysEnterProgram, () => Measure(otherDir, calls: calls));
            ProgramRow(ManagedAllowed, EnforcementEngine.SysEnterProgram, () => Measure(managedDir, calls: calls));
            engine.StartRecording(managed);
            ProgramRow(ManagedRecording, EnforcementEngine.SysEnterProgram, () => Measure(managedDir, calls: calls));
            engine.StopRecording(managed);
            engine.SetShadow(managed, shadowProfile);
            ProgramRow(ManagedShadow, EnforcementEngine.SysEnterProgram, () => Measure(managedDir, calls: calls));
            engine.ClearShadow(managed);
            engine.Rebind(managed, rulesProfile, EnforcementMode.Enforce);
            ProgramRow(ManagedRules, EnforcementEngine.SysEnterProgram, () => Measure(managedDir, calls: calls));
            engine.Rebind(managed, logProfile, EnforcementMode.Enforce);
            ProgramRow(ManagedLogged, EnforcementEngine.SysEnterProgram, () => Measure(managedDir, calls: calls));
            engine.Unbind(managed);
        }
    }
    finally
    {
        BpfStats(false);
    }

    // A second engine with its own pin root: its own maps and ring buffer, so no other reader takes its events.
    using (var unlimited = EnforcementEngine.Open(options with { PinRoot = pinRoot + "-unlimited", LogEventsPerSecondPerContainer = 0 }, loggers))
    {
        unlimited.Bind(managed, logProfile, EnforcementMode.Enforce);
        long drained = 0;
        var drain = Task.Run(async () => { await foreach (var _ in unlimited.Events.ReadAllAsync()) Interlocked.Increment(ref drained); });
        var countersBefore = unlimited.ReadCounters();
        var clock = Stopwatch.StartNew();
        double loggedNs = Measure(managedDir);
        clock.Stop();
        await Task.Delay(500); // let the consumer thread drain what is still in the ring
        var countersAfter = unlimited.ReadCounters();
        unlimited.Unbind(managed);
        long produced = (long)(countersAfter.Events - countersBefore.Events);
        eventsLine = $"Event pump (engine ring-buffer consumer → channel), no rate limit, one run of {iterations:N0} logged calls ({loggedNs:F0} ns per call): "
            + $"{Interlocked.Read(ref drained):N0} events delivered in {clock.Elapsed.TotalSeconds:F1} s "
            + $"= {Interlocked.Read(ref drained) / clock.Elapsed.TotalSeconds:N0} events/s; events counted by the kernel side {produced:N0}, "
            + $"ring-buffer drops {countersAfter.RingBufferDrops - countersBefore.RingBufferDrops:N0}, channel drops {countersAfter.ChannelDrops - countersBefore.ChannelDrops:N0}. "
            + "Drops are counted, never waited for: the workload's syscalls do not stall.";
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
    var median = samples.ToDictionary(kv => kv.Key, kv => Median(kv.Value));
    // differences within a round, then their median: slow drift and other load cancel out better than in a difference of medians
    double Paired(string row, string baseline) => Median(samples[row].Zip(samples[baseline], (a, b) => a - b).ToList());
    double bare = median[Bare];
    double floorAdded = Paired(FloorRawTp, Bare);
    double seccompAdded = Paired(Seccomp, Bare);
    string Ratio(double added, double of) => of > 0 ? $"{added / of:F2}x" : "n/a";

    Console.WriteLine($"getppid loop, {iterations:N0} calls per sample, {rounds} interleaved rounds (median, min–max; added = median of the per-round differences), kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, {Environment.ProcessorCount} CPUs");
    Console.WriteLine("Wall-clock figures taken with kernel.bpf_stats_enabled=0; the program column comes from a separate pass with it set to 1 (which adds its own time).");
    Console.WriteLine();
    Console.WriteLine("| configuration | ns per syscall | spread | added | above the floor | added / seccomp's added | added / floor's added | program run time (bpf_stats) |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|");
    foreach (var row in order)
    {
        double ns = median[row];
        double added = Paired(row, Bare);
        bool attachedProgram = row is FloorRawTp or FloorTpBtf or Unmanaged or ManagedAllowed or ManagedRecording or ManagedShadow or ManagedRules or ManagedLogged;
        Console.WriteLine($"| {row} | {ns:F0} | {samples[row].Min():F0}–{samples[row].Max():F0} | {(row == Bare ? "" : $"{added:+0;-0}")} "
            + $"| {(attachedProgram && row != FloorRawTp ? $"{Paired(row, FloorRawTp):+0;-0}" : "")} "
            + $"| {(row == Bare ? "" : Ratio(added, seccompAdded))} | {(attachedProgram && row != FloorRawTp ? Ratio(added, floorAdded) : "")} "
            + $"| {(programNs.TryGetValue(row, out var p) ? $"{Median(p):F0} ns ({p.Min():F0}–{p.Max():F0})" : "")} |");
    }
    Console.WriteLine();
    Console.WriteLine($"Targets (issue 13): unmanaged ≤ floor + 10 ns: {Paired(Unmanaged, FloorRawTp):+0;-0} ns wall; managed allowed ≤ floor + 40 ns: {Paired(ManagedAllowed, FloorRawTp):+0;-0} ns wall.");
    if (programNs.TryGetValue(FloorRawTp, out var floorRuns) && programNs.TryGetValue(Unmanaged, out var unmanagedRuns) && programNs.TryGetValue(ManagedAllowed, out var allowedRuns))
        Console.WriteLine($"Program run time above the no-op program (bpf_stats, medians of 3 passes): unmanaged {Median(unmanagedRuns) - Median(floorRuns):+0;-0} ns, managed allowed {Median(allowedRuns) - Median(floorRuns):+0;-0} ns.");
    Console.WriteLine($"Recording (issue 15): a recording container's added cost over the same container not recording: {Paired(ManagedRecording, ManagedAllowed):+0;-0} ns wall, "
        + $"{Ratio(Paired(ManagedRecording, ManagedAllowed), seccompAdded)} of kernel seccomp's added cost"
        + (programNs.TryGetValue(ManagedRecording, out var recordingRuns) && programNs.TryGetValue(ManagedAllowed, out var notRecordingRuns)
            ? $"; program run time {Median(recordingRuns) - Median(notRecordingRuns):+0;-0} ns." : "."));
    Console.WriteLine($"Shadow (issue 15): a shadowed container's added cost (the syscall allowed by both) over the same container without a shadow: {Paired(ManagedShadow, ManagedAllowed):+0;-0} ns wall, "
        + $"{Ratio(Paired(ManagedShadow, ManagedAllowed), seccompAdded)} of kernel seccomp's added cost"
        + (programNs.TryGetValue(ManagedShadow, out var shadowRuns) && programNs.TryGetValue(ManagedAllowed, out var unshadowedRuns)
            ? $"; program run time {Median(shadowRuns) - Median(unshadowedRuns):+0;-0} ns." : "."));
    Console.WriteLine($"load average during the run: {File.ReadAllText("/proc/loadavg").Trim()}");
    Console.WriteLine();
    Console.WriteLine(eventsLine);

    long Sum(IReadOnlyDictionary<string, long> m, params string[] names) => names.Sum(n => m[n]);
    string[] profileMaps = ["slots", "arch_policy", "syscall_policy", "rules"];
    Console.WriteLine();
    Console.WriteLine("Kernel memory (fdinfo memlock; profile maps are BPF_F_NO_PREALLOC hashes, so they grow per entry):");
    Console.WriteLine();
    Console.WriteLine("| what | bytes |");
    Console.WriteLine("|---|---|");
    Console.WriteLine($"| one bound Docker-sized profile ({allowProfile.Arches[0].Syscalls.Count} syscalls, 6 rules): slots + arch_policy + syscall_policy + rules | {Sum(afterOne, profileMaps) - Sum(before, profileMaps):N0} |");
    Console.WriteLine($"| each additional container sharing it: one `bindings` entry (preallocated map) | {Sum(afterTwo, ["bindings", .. profileMaps]) - Sum(afterOne, ["bindings", .. profileMaps]):N0} |");
    Console.WriteLine($"| fixed: bindings map (16,384 preallocated entries) | {before["bindings"]:N0} |");
    Console.WriteLine($"| fixed: events ring buffer | {before["events"]:N0} |");
    Console.WriteLine($"| fixed: allow bitmaps ((4,096 + 1) slots × 2 arches × 64 bytes, an array) | {before["allow_bitmaps"]:N0} |");
    Console.WriteLine($"| fixed: everything else (settings, binding generation, counters, log_rate, pending, empty profile maps) | {before.Where(kv => kv.Key is not ("bindings" or "events" or "allow_bitmaps")).Sum(kv => kv.Value):N0} |");
}
finally
{
    BpfStats(false);
    foreach (var dir in new[] { managedDir, otherDir, secondDir })
        if (Directory.Exists(dir))
            Directory.Delete(dir);
}
return 0;
