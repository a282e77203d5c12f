using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Tests.Infrastructure;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;
using SeccompEbpf.Tests.Shared;
using Xunit.Abstractions;
using EvaluatorSource = SeccompEbpf.Profiles.Evaluation.DecisionSource;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>
/// The BPF engine against the reference evaluator (audit mode: the decision of every case, from its event) and
/// against the kernel's own seccomp (enforce mode: the observed outcome, where the BindingReport claims the
/// action is carried out exactly), over the generated corpus of the profile engine's OracleDifferentialTests.
/// SECCOMP_EBPF_DIFF_CASES=N runs the first profiles of the corpus up to N cases (for slow TCG guests);
/// PROFILES_ORACLE_SEED picks another corpus.
/// </summary>
public sealed class BpfDifferentialTests(ITestOutputHelper output) : IDisposable
{
    private const uint X86_64 = SyscallTables.AuditArchX86_64;
    private const uint ExitGroup = 231, Exit = 60;
    private static readonly HashSet<string> PidValued = ["getpid", "gettid", "getppid"];
    private readonly EngineScope _scope = new("diff");

    public void Dispose() => _scope.Dispose();

    private sealed record Case(int Profile, int Index, OracleCase Source, uint Nr)
    {
        internal string Describe() => $"profile #{Profile} case {Index}: {Source.Syscall}({string.Join(", ", Source.Args.Select(a => $"0x{a:x}"))})";
    }

    private (int Seed, List<OracleProfile> Corpus) LoadCorpus()
    {
        int seed = ProfileCorpus.SeedFromEnvironment();
        var corpus = ProfileCorpus.GenerateCorpus(seed, ProfileCorpus.DefaultProfiles, ProfileCorpus.DefaultCasesPerProfile);
        int total = corpus.Sum(p => p.Cases.Count);
        if (Environment.GetEnvironmentVariable("SECCOMP_EBPF_DIFF_CASES") is { Length: > 0 } knob)
        {
            if (!int.TryParse(knob, NumberStyles.None, CultureInfo.InvariantCulture, out int wanted) || wanted < 1)
                throw new ArgumentException($"SECCOMP_EBPF_DIFF_CASES must be a positive number of cases, not '{knob}'");
            int profiles = Math.Min(corpus.Count, (wanted + ProfileCorpus.DefaultCasesPerProfile - 1) / ProfileCorpus.DefaultCasesPerProfile);
            corpus = corpus.Take(profiles).ToList();
            output.WriteLine($"SECCOMP_EBPF_DIFF_CASES={wanted}: the first {profiles} profiles ({corpus.Sum(p => p.Cases.Count)} of {total} cases)");
        }
        output.WriteLine($"corpus seed {seed}: {corpus.Count} profiles, {corpus.Sum(p => p.Cases.Count)} cases");
        return (seed, corpus);
    }

    private static CompiledProfile? TryCompile(OracleProfile item)
    {
        try
        {
            return ProfileCompiler.Compile(item.Profile, CompileContext.Default).Profile;
        }
        catch (ProfileException)
        {
            return null; // libseccomp refuses these as well (OracleDifferentialTests checks that)
        }
    }

    private static List<Case> CasesOf(int profile, OracleProfile item)
        => item.Cases.Select((c, i) => new Case(profile, i, c, SyscallTables.Resolve(SyscallArch.X86_64, c.Syscall)
            ?? throw new InvalidOperationException($"{c.Syscall} is not an x86_64 syscall"))).ToList();

    private static string ActionText(SeccompAction kind, ushort data) => $"{kind}({data})";

    [Fact]
    public async Task AuditModeDecisionsEqualTheReferenceEvaluator()
    {
        var (_, corpus) = LoadCorpus();
        var watch = Stopwatch.StartNew();
        using var engine = _scope.Open(UnenforceablePolicy.Refuse, eventsPerSecond: 0);
        using var cgroup = TestCgroup.Create("diff-audit");
        var start = engine.ReadCounters();
        ulong received = 0;
        int compared = 0, agreed = 0, compileRefused = 0, unbindableCases = 0;
        var unbindable = new List<string>();
        var decisions = new SortedDictionary<string, int>();
        var mismatches = new List<string>();

        for (int p = 0; p < corpus.Count; p++)
        {
            var item = corpus[p];
            if (TryCompile(item) is not { } compiled)
            {
                compileRefused += item.Cases.Count;
                continue;
            }
            BindingReport report;
            try
            {
                report = engine.Bind(cgroup.Id, compiled, EnforcementMode.Audit); // replaces the previous profile atomically
            }
            catch (ArgumentException e)
            {
                // a compiled profile the engine cannot load (e.g. more checks per rule than the BPF loop takes)
                unbindable.Add($"profile #{p} ({item.Cases.Count} cases): {e.Message}");
                unbindableCases += item.Cases.Count;
                continue;
            }
            Assert.Equal(EnforcementMode.Audit, report.Mode);
            var cases = CasesOf(p, item);
            int pid;
            using (var batch = SyscallBatch.Start(cases.Select(c => new BatchCall(c.Nr, c.Source.Args)).ToList()))
            {
                pid = batch.Pid;
                batch.MoveInto(cgroup);
                batch.Go();
                var outcome = batch.WaitForOutcome();
                Assert.True(outcome.Complete(cases.Count) && outcome.Signal == 0,
                    $"audit mode stopped a call of profile #{p}: {outcome.Results.Count} of {cases.Count} calls returned, exit {outcome.ExitCode}\n{ProfileSerializer.ToJson(item.Profile)}");
            }

            // Every event of the batch was counted before its syscall returned: read until the channel has them all.
            ulong emitted = engine.ReadCounters().Events - start.Events;
            var events = await engine.Events.ReadUntilAsync(e => (ulong)e.Count >= emitted - received, $"{emitted - received} events of profile #{p}");
            received = emitted;
            var stray = events.Where(e => e.Pid != pid).ToList();
            Assert.True(stray.Count == 0, $"events from processes other than the batch {pid}: {string.Join("; ", stray.Take(3))}");
            var mine = events.Where(e => e.Nr is not (ExitGroup or Exit)).ToList();

            // Events come in program order; identical calls under one binding decide identically, so a greedy
            // match on (nr, args) assigns each event to its case.
            int next = 0;
            foreach (var c in cases)
            {
                var expected = ReferenceEvaluator.Evaluate(compiled, X86_64, c.Nr, c.Source.Args);
                SyscallEvent? seen = next < mine.Count && mine[next].Nr == c.Nr && mine[next].Args.SequenceEqual(c.Source.Args) ? mine[next++] : null;
                string kind = expected.Source == EvaluatorSource.EnosysStub ? "ENOSYS-stub" : expected.Action.Kind.ToString();
                decisions[kind] = decisions.GetValueOrDefault(kind) + 1;
                compared++;
                bool agrees = expected.Action.Kind == SeccompAction.Allow
                    ? seen is null
                    : seen is not null && seen.Action == expected.Action.Kind && seen.Data == expected.Action.Data && seen.Mode == EnforcementMode.Audit;
                if (agrees)
                {
                    agreed++;
                    continue;
                }
                string bpf = seen is null ? "no event (ALLOW)" : $"event {ActionText(seen.Action, seen.Data)} via {seen.Source} rule {seen.RuleIndex}, mode {seen.Mode}";
                mismatches.Add($"{c.Describe()}: evaluator {ActionText(expected.Action.Kind, expected.Action.Data)} via {expected.Source} rule {expected.RuleIndex}, BPF {bpf}\n{ProfileSerializer.ToJson(item.Profile)}");
            }
            if (next < mine.Count)
                mismatches.Add($"profile #{p}: {mine.Count - next} events match no case, first: {mine[next]}\n{ProfileSerializer.ToJson(item.Profile)}");
        }
        engine.Unbind(cgroup.Id);

        var end = engine.ReadCounters();
        output.WriteLine($"audit differential: {compared} cases decided by BPF and evaluator, {agreed} agree, {mismatches.Count} disagree; " +
                         $"{compileRefused} cases of profiles the compiler refuses; {unbindableCases} cases of {unbindable.Count} compiled profiles the engine cannot load; " +
                         $"{received} events; {watch.Elapsed.TotalSeconds:F1} s");
        foreach (string u in unbindable.Take(10))
            output.WriteLine($"cannot load: {u}");
        output.WriteLine("evaluator decisions: " + string.Join(", ", decisions.Select(k => $"{k.Key}={k.Value}")));
        Assert.True(end.RingBufferDrops == start.RingBufferDrops && end.RateLimitDrops == start.RateLimitDrops && end.ChannelDrops == start.ChannelDrops,
            $"events were dropped (ring buffer {end.RingBufferDrops - start.RingBufferDrops}, rate limit {end.RateLimitDrops - start.RateLimitDrops}, channel {end.ChannelDrops - start.ChannelDrops}): the comparison is void");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {compared} cases disagree; first ones:\n" + string.Join("\n----\n", mismatches.Take(4)));
        // Audit mode needs no prevention: every profile the compiler accepts must be decided by the BPF side.
        Assert.True(unbindable.Count == 0, $"the engine cannot load {unbindable.Count} compiled profiles ({unbindableCases} cases), so their decisions cannot be " +
                                           "compared; first ones:\n" + string.Join("\n", unbindable.Take(4)));
        int minimum = Math.Min(2000, corpus.Sum(c => c.Cases.Count) * 9 / 10);
        Assert.True(compared >= minimum, $"only {compared} cases were compared (at least {minimum} expected)");
        foreach (string kind in new[] { "Allow", "Log", "Errno", "KillProcess", "KillThread", "Trap", "Trace" })
            Assert.True(decisions.GetValueOrDefault(kind) > 0 || compared < 500, $"the corpus exercised {kind} {decisions.GetValueOrDefault(kind)} times");
    }

    /// <summary>What a case did: returned (ret, errno) or the process died by a signal.</summary>
    private sealed record Outcome(bool Killed, int Signal, long Ret, long Errno)
    {
        internal static Outcome Died(int signal) => new(true, signal, 0, 0);
        internal static Outcome Returned(long ret, long errno) => new(false, 0, ret, errno);

        /// <summary>Killed, or the return normalised where it names a process (the parent differs between the two runners).</summary>
        internal string Normalised(string syscall)
            => Killed ? "killed" : PidValued.Contains(syscall) && Ret > 0 ? "ok <a pid> 0" : $"ok {Ret} {Errno}";

        public override string ToString() => Killed ? $"killed by signal {Signal}" : $"returned {Ret}, errno {Errno}";
    }

    private static Outcome? ParseOracle(string line)
    {
        var parts = line.Split(' ');
        return parts[0] switch
        {
            "sig" => Outcome.Died(int.Parse(parts[1], CultureInfo.InvariantCulture)),
            "ok" => Outcome.Returned(long.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture)),
            "reject" => null,
            _ => throw new InvalidOperationException($"seccomp-oracle answered `{line}`"),
        };
    }

    /// <summary>Runs the cases in the bound cgroup; a case that kills the process is recorded and the rest go to a new process.</summary>
    private static Outcome[] RunEnforced(TestCgroup cgroup, List<Case> cases)
    {
        var outcomes = new Outcome[cases.Count];
        int next = 0;
        while (next < cases.Count)
        {
            using var batch = SyscallBatch.Start(cases.Skip(next).Select(c => new BatchCall(c.Nr, c.Source.Args)).ToList());
            batch.MoveInto(cgroup);
            batch.Go();
            var outcome = batch.WaitForOutcome();
            foreach (var result in outcome.Results)
                outcomes[next++] = Outcome.Returned(result.Ret, result.Errno);
            if (next < cases.Count)
            {
                Assert.True(outcome.Signal != 0, $"syscall-batch exited {outcome.ExitCode} after {outcome.Results.Count} calls without being killed ({cases[next].Describe()})");
                outcomes[next++] = Outcome.Died(outcome.Signal);
            }
        }
        return outcomes;
    }

    /// <summary>The report's line for the action that decided this case; null for ALLOW (nothing to enforce).</summary>
    private static ActionEnforcement? ReportLine(BindingReport report, Decision decision, uint nr, out string scope)
    {
        scope = decision.Source switch
        {
            EvaluatorSource.Rule or EvaluatorSource.SyscallFallback => SyscallTable.Describe(X86_64, nr),
            EvaluatorSource.Default => $"default action ({SyscallTable.ArchName(X86_64)})",
            EvaluatorSource.EnosysStub => "syscalls numbered",
            _ => "architectures the profile does not list",
        };
        if (decision.Action.Kind == SeccompAction.Allow)
            return null;
        string wanted = scope;
        return decision.Source == EvaluatorSource.EnosysStub
            ? report.Actions.FirstOrDefault(a => a.Requested == decision.Action && a.Scope.StartsWith(wanted, StringComparison.Ordinal) && a.Scope.EndsWith("(x86_64)", StringComparison.Ordinal))
            : report.Actions.FirstOrDefault(a => a.Requested == decision.Action && a.Scope == wanted);
    }

    /// <summary>"Errno(7) for getppid (i386): ..." -> "Errno for a named syscall (i386)".</summary>
    private static string RefusalCategory(string reason)
    {
        var m = Regex.Match(reason, @"^(\w+)(\(\d+\))? for (.*?) \((x86_64|i386|aarch64)\)");
        if (!m.Success)
            return reason.Split(": ")[0];
        string scope = m.Groups[3].Value switch
        {
            "default action" => "the default action",
            var s when s.StartsWith("syscalls numbered", StringComparison.Ordinal) => "the ENOSYS stub",
            var s when s.StartsWith("syscall ", StringComparison.Ordinal) => "a raw number",
            _ => "a named syscall",
        };
        return $"{m.Groups[1].Value} for {scope} ({m.Groups[4].Value})";
    }

    [Fact]
    public void EnforcedOutcomesEqualKernelSeccompWhereTheReportClaimsExactness()
    {
        var (_, corpus) = LoadCorpus();
        var watch = Stopwatch.StartNew();
        using var engine = _scope.Open(UnenforceablePolicy.Refuse, eventsPerSecond: 0);
        // BPF LSM, or where bpf is not an active LSM the fmod_ret fallback: kernels.txt says which must work here
        bool lsm = engine.Capabilities.CanPreventSyscalls;
        LsmExpectation.AssertProbeAgrees(engine.Capabilities);
        using var cgroup = TestCgroup.Create("diff-enforce");

        var bound = new List<(OracleProfile Item, CompiledProfile Compiled, BindingReport Report, List<Case> Cases, Outcome[] Observed)>();
        int compileRefusedCases = 0, refusedProfiles = 0, refusedCases = 0;
        var refusals = new SortedDictionary<string, int>();
        string? refusalExample = null;
        for (int p = 0; p < corpus.Count; p++)
        {
            var item = corpus[p];
            if (TryCompile(item) is not { } compiled)
            {
                compileRefusedCases += item.Cases.Count;
                continue;
            }
            BindingReport report;
            try
            {
                report = engine.Bind(cgroup.Id, compiled, EnforcementMode.Enforce);
            }
            catch (EnforcementRefusedException e)
            {
                Assert.NotEmpty(e.Reasons);
                refusedProfiles++;
                refusedCases += item.Cases.Count;
                string category = RefusalCategory(e.Reasons[0]);
                refusals[category] = refusals.GetValueOrDefault(category) + 1;
                refusalExample ??= e.Reasons[0];
                continue;
            }
            catch (ArgumentException e)
            {
                // beyond the BPF evaluator's limits (rules per syscall, checks per rule): the audit test fails on these
                refusedProfiles++;
                refusedCases += item.Cases.Count;
                string category = e.Message.Contains("argument checks", StringComparison.Ordinal) ? "cannot load: a rule with more checks than the BPF loop takes"
                    : e.Message.Contains("conditional rules", StringComparison.Ordinal) ? "cannot load: a syscall with more rules than the BPF loop takes"
                    : $"cannot load: {e.Message}";
                refusals[category] = refusals.GetValueOrDefault(category) + 1;
                continue;
            }
            Assert.DoesNotContain(report.Actions, a => a.Mechanism is EnforcementMechanism.Refused or EnforcementMechanism.Degraded or EnforcementMechanism.AuditLog);
            var cases = CasesOf(p, item);
            bound.Add((item, compiled, report, cases, RunEnforced(cgroup, cases)));
        }
        engine.Unbind(cgroup.Id);
        var runTime = watch.Elapsed;

        var input = new System.Text.StringBuilder();
        foreach (var b in bound)
            input.Append(ProfileCorpus.ToOracleInput(b.Item.Profile, b.Item.Cases));
        string[] lines = bound.Count == 0 ? [] : ProfileCorpus.RunOracle(OracleBinary(), input.ToString());
        Assert.Equal(bound.Sum(b => b.Cases.Count), lines.Length);

        int line = 0, compared = 0, agreed = 0;
        var excluded = new SortedDictionary<string, int>();
        var comparedByKind = new SortedDictionary<string, int>();
        var signals = new SortedDictionary<string, int>();
        var disagreements = new SortedDictionary<string, int>();
        var mismatches = new List<string>();
        foreach (var b in bound)
        {
            foreach (var c in b.Cases)
            {
                var oracle = ParseOracle(lines[line++]);
                var observed = b.Observed[c.Index];
                var decision = ReferenceEvaluator.Evaluate(b.Compiled, X86_64, c.Nr, c.Source.Args);
                var entry = ReportLine(b.Report, decision, c.Nr, out string scope);
                var mechanism = entry?.Mechanism ?? EnforcementMechanism.None;
                string actionText = ActionText(decision.Action.Kind, decision.Action.Data);
                if (decision.Action.Kind != SeccompAction.Allow && entry is null)
                {
                    mismatches.Add($"{c.Describe()}: the BindingReport has no line for {actionText} on {scope} (evaluator via {decision.Source})\n{b.Report}");
                    continue;
                }
                if (oracle is null)
                {
                    excluded["kernel seccomp refused the profile"] = excluded.GetValueOrDefault("kernel seccomp refused the profile") + 1;
                    continue;
                }
                bool killAfterEntry = mechanism == EnforcementMechanism.SignalAfterEntry && decision.Action.Kind is SeccompAction.KillProcess or SeccompAction.KillThread;
                if (mechanism is not (EnforcementMechanism.None or EnforcementMechanism.RingBufferLog or EnforcementMechanism.LsmHook) && !killAfterEntry)
                {
                    string why = $"{mechanism} ({decision.Action.Kind})";
                    excluded[why] = excluded.GetValueOrDefault(why) + 1;
                    continue;
                }
                compared++;
                string kind = $"{decision.Action.Kind} via {mechanism}";
                comparedByKind[kind] = comparedByKind.GetValueOrDefault(kind) + 1;
                if (oracle.Killed || observed.Killed)
                {
                    string pair = $"seccomp {(oracle.Killed ? $"sig {oracle.Signal}" : "returned")} / BPF {(observed.Killed ? $"sig {observed.Signal}" : "returned")}";
                    signals[pair] = signals.GetValueOrDefault(pair) + 1;
                }
                // seccomp kills with SIGSYS, the engine with SIGKILL (documented): "killed" is what is compared
                if (oracle.Normalised(c.Source.Syscall) == observed.Normalised(c.Source.Syscall))
                {
                    agreed++;
                    continue;
                }
                string disagreement = $"{decision.Action.Kind} via {mechanism}";
                disagreements[disagreement] = disagreements.GetValueOrDefault(disagreement) + 1;
                mismatches.Add($"{c.Describe()}: evaluator {actionText} via {decision.Source} rule {decision.RuleIndex}, report {mechanism}; " +
                               $"kernel seccomp {oracle}, BPF engine {observed}\n{ProfileSerializer.ToJson(b.Item.Profile)}");
            }
        }

        int total = corpus.Sum(c => c.Cases.Count);
        output.WriteLine($"enforce differential (BPF LSM {(lsm ? "available" : "unavailable")}): {total} cases; compared {compared}, agreed {agreed}, disagreed {mismatches.Count}; " +
                         $"refused by the engine: {refusedProfiles} profiles ({refusedCases} cases); refused by the compiler: {compileRefusedCases} cases; " +
                         $"excluded: {excluded.Values.Sum()}; bind+run {runTime.TotalSeconds:F1} s, total {watch.Elapsed.TotalSeconds:F1} s");
        output.WriteLine("compared: " + string.Join(", ", comparedByKind.Select(k => $"{k.Key}={k.Value}")));
        output.WriteLine("disagreed: " + (disagreements.Count == 0 ? "none" : string.Join(", ", disagreements.Select(k => $"{k.Key}={k.Value}"))));
        output.WriteLine("deaths: " + string.Join(", ", signals.Select(k => $"{k.Key}: {k.Value}")));
        output.WriteLine("excluded: " + (excluded.Count == 0 ? "none" : string.Join(", ", excluded.Select(k => $"{k.Key}={k.Value}"))));
        output.WriteLine("engine refusals by first reason: " + string.Join(", ", refusals.Select(k => $"{k.Key}={k.Value}")));
        if (refusalExample is not null)
            output.WriteLine($"e.g. {refusalExample}");

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {compared} compared cases disagree ({string.Join(", ", disagreements.Select(k => $"{k.Key}={k.Value}"))}); first ones:\n" + string.Join("\n----\n", mismatches.Take(4)));
        // Not vacuous: without BPF LSM about an eighth of the corpus is bound and compared (328 of 2,560 for the default seed).
        int minimum = Math.Max(10, total / 16);
        Assert.True(compared >= minimum, $"only {compared} of {total} cases were compared (at least {minimum} expected)");
        foreach (var kind in new[] { SeccompAction.Allow, SeccompAction.Log, SeccompAction.KillProcess })
            Assert.True(comparedByKind.Any(k => k.Key.StartsWith($"{kind} ", StringComparison.Ordinal)) || total < 400,
                $"no {kind} case was compared: {string.Join(", ", comparedByKind.Keys)}");
        if (lsm)
            Assert.True(comparedByKind.Any(k => k.Key.StartsWith("Errno via LsmHook", StringComparison.Ordinal)) || total < 400,
                $"BPF LSM works here, yet no ERRNO case stopped at an LSM hook was compared: {string.Join(", ", comparedByKind.Keys)}");
    }

    /// <summary>
    /// Minimised from the audit differential: one rule with SCMP_CMP_NE on four arguments. libseccomp and the
    /// compiler accept it; the compiled form has 31 rules, several of 7 or 8 checks (each 64-bit NE becomes "high word 0
    /// and low word != v" or "high word != 0"), which exceeds the BPF loop's 6 checks per rule.
    /// </summary>
    [Fact]
    public async Task ARuleWithNotEqualOnFourArgumentsIsDecidedLikeTheEvaluator()
    {
        var profile = ProfileParser.ParseOrThrow("""
            {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["lseek"],"action":"SCMP_ACT_KILL_PROCESS","args":[
              {"index":0,"value":3,"op":"SCMP_CMP_NE"},{"index":1,"value":3,"op":"SCMP_CMP_NE"},
              {"index":2,"value":3,"op":"SCMP_CMP_NE"},{"index":3,"value":3,"op":"SCMP_CMP_NE"}]}]}
            """);
        var compiled = ProfileCompiler.Compile(profile, CompileContext.Default).Profile;
        using var engine = _scope.Open(UnenforceablePolicy.Refuse, eventsPerSecond: 0);
        using var cgroup = TestCgroup.Create("diff-ne4");
        var report = engine.Bind(cgroup.Id, compiled, EnforcementMode.Audit);
        Assert.Equal(EnforcementMode.Audit, report.Mode);
        ulong[][] argSets = [[9999, 1, 1, 1, 0, 0], [3, 1, 1, 1, 0, 0], [9999, 1, 1, 0x100000003, 0, 0]];
        uint lseek = SyscallTables.Resolve(SyscallArch.X86_64, "lseek")!.Value;
        using var batch = SyscallBatch.Start(argSets.Select(a => new BatchCall(lseek, a)).ToList());
        batch.MoveInto(cgroup);
        batch.Go();
        Assert.True(batch.WaitForOutcome().Complete(argSets.Length));
        int expectedEvents = argSets.Count(a => ReferenceEvaluator.Evaluate(compiled, X86_64, lseek, a).Action.Kind != SeccompAction.Allow);
        Assert.Equal(2, expectedEvents);
        var events = await engine.Events.ReadUntilAsync(e => e.Count(x => x.Pid == batch.Pid && x.Nr == lseek) >= expectedEvents, "the audited lseek kills");
        Assert.All(events.Where(x => x.Pid == batch.Pid && x.Nr == lseek), e => Assert.Equal(SeccompAction.KillProcess, e.Action));
    }

    /// <summary>
    /// Where BPF LSM carries prctl, TRACE (no tracer) must make prctl fail with ENOSYS as seccomp does. The verdict
    /// reaches task_prctl as -ENOSYS, which security_task_prctl() reads as "no LSM opinion": prctl would then run.
    /// Without BPF LSM the engine must refuse the profile instead.
    /// </summary>
    [Fact]
    public void TraceOnPrctlFailsWithEnosysOrIsRefused()
    {
        var profile = ProfileParser.ParseOrThrow("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["prctl"],"action":"SCMP_ACT_TRACE"}]}""");
        var compiled = ProfileCompiler.Compile(profile, CompileContext.Default).Profile;
        using var engine = _scope.Open(UnenforceablePolicy.Refuse, eventsPerSecond: 0);
        using var cgroup = TestCgroup.Create("diff-trace-prctl");
        BindingReport report;
        try
        {
            report = engine.Bind(cgroup.Id, compiled, EnforcementMode.Enforce);
        }
        catch (EnforcementRefusedException refused)
        {
            Assert.False(engine.Capabilities.CanPreventSyscalls && refused.Reasons.All(r => !r.Contains("prctl", StringComparison.Ordinal)), refused.Message);
            output.WriteLine($"refused: {refused.Reasons[0]}");
            return; // an honest refusal: nothing is claimed
        }
        var line = Assert.Single(report.Actions, a => a.Requested.Kind == SeccompAction.Trace);
        output.WriteLine(line.Explanation);
        uint prctl = SyscallTables.Resolve(SyscallArch.X86_64, "prctl")!.Value;
        using var batch = SyscallBatch.Start([new BatchCall(prctl, [3 /* PR_GET_DUMPABLE */, 0, 0, 0, 0, 0])]);
        batch.MoveInto(cgroup);
        batch.Go();
        var outcome = batch.WaitForOutcome();
        Assert.True(outcome.Complete(1), $"prctl did not return (signal {outcome.Signal})");
        Assert.True(outcome.Results[0] == new BatchResult(-1, 38),
            $"the report says `{line.Explanation}` ({line.Mechanism}), but prctl(PR_GET_DUMPABLE) returned {outcome.Results[0].Ret}, errno {outcome.Results[0].Errno}");
    }

    private static string OracleBinary()
    {
        string dir = typeof(BpfDifferentialTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NativeBinDirectory").Value!;
        return Path.Combine(dir, "seccomp-oracle");
    }
}
