using System.Runtime.CompilerServices;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Control;

/// <summary>What the control socket can be asked: ps, events, apply, record-start|read|stop.</summary>
internal sealed class ControlApi(ContainerTable table, PolicyController policies, EventPump events, ExecGateKeeper gate)
{
    public async IAsyncEnumerable<ControlReply> HandleAsync(ControlRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        switch (request.Verb)
        {
            case "ps":
                yield return ControlJson.Success(Containers());
                break;
            case "events":
                await foreach (var reply in EventsAsync(request, ct).ConfigureAwait(false))
                    yield return reply;
                break;
            case "apply":
                yield return Apply(request);
                break;
            case "record-start" or "record-read" or "record-stop":
                yield return Record(request);
                break;
            default:
                yield return ControlJson.Failure($"unknown verb \"{request.Verb}\" (ps, events, apply, record-start, record-read, record-stop)");
                break;
        }
    }

    public List<ContainerView> Containers(IEnumerable<string>? only = null)
    {
        var wanted = only?.ToHashSet();
        var views = new List<ContainerView>();
        // One snapshot of the table: each line's container, pod and policy are of the same moment.
        var snapshot = table.Snapshot();
        foreach (var entry in snapshot.Entries.OrderBy(e => e.Container.PodId).ThenBy(e => e.Container.Name))
        {
            if (wanted is not null && !wanted.Contains(entry.Id))
                continue;
            var (container, pod, policy) = (entry.Container, snapshot.PodOf(entry), entry.Policy);
            views.Add(new ContainerView(
                pod?.Namespace ?? "", pod?.Name ?? "", container.Name, container.Id, container.Pid, container.CgroupId,
                policy?.ProfileReference, policy?.Profile?.Compiled.Hash,
                (policy?.Mode ?? PolicyMode.Off).ToString().ToLowerInvariant(),
                (policy?.State ?? PolicyState.Unmanaged).ToString().ToLowerInvariant(),
                policy?.Reason,
                EnforcementLines(policy?.Report),
                events.DecisionsOf(container.Id),
                ExactnessOf(policy?.Report),
                gate.RecordOf(container.CgroupId) is { } gap ? new UnprotectedGapView(gate.Mode, gap.Execs, gap.Denied, gap.LastPid, gap.LastComm, gap.BoundToFallback ? gate.FallbackProfile : null) : null,
                policy is { Recording: true } ? new RecordingStateView(policy.RecordingSince, RecordedArgumentsOf(policy)) : null,
                ShadowOf(policy)));
        }
        return views;
    }

    // Read from the kernel's recording, so that a recording adopted after a restart shows its arguments too.
    private IReadOnlyList<RecordedArgumentStateView>? RecordedArgumentsOf(ContainerPolicy policy)
        => policies.RecordingOf(policy)?.Arguments is { Count: > 0 } arguments
            ? arguments.Select(a => new RecordedArgumentStateView(a.Syscall, a.Index, a.Values.Count, a.Overflow)).ToList()
            : null;

    private ShadowView? ShadowOf(ContainerPolicy? policy)
    {
        if (policy?.ShadowReference is not { } reference)
            return null;
        var counts = policies.ShadowCountsOf(policy);
        return new ShadowView(reference, policy.ShadowProfile?.Compiled.Hash, counts?.Differences, counts?.Denials,
            policy.ShadowProblem ?? (!policy.WantsProfile ? "not evaluated: no profile in force to compare it with" : counts is null ? "not in place" : null));
    }

    // Null for bindings adopted after a daemon restart until they are bound again: the plan is made at Bind.
    private static ExactnessView? ExactnessOf(BindingReport? report) => report?.Exactness is { } x
        ? new ExactnessView(x.ToString(), x.Arch, x.Exact, x.AfterEntry, x.NotPrevented, x.Refused, x.AfterEntrySyscalls, x.NotPreventedSyscalls, x.KernelSeccomp, x.FloorDiffersSyscalls, x.NeedsSysEnter)
        : null;

    private static List<EnforcementLine> EnforcementLines(BindingReport? report)
    {
        if (report is null)
            return [];
        return report.Actions
            .Where(a => a.Mechanism != EnforcementMechanism.None)
            .GroupBy(a => (Action: a.Requested.ToString(), a.Mechanism))
            .Select(g => new EnforcementLine(
                g.Key.Action,
                g.Key.Mechanism.ToString(),
                g.Select(a => a.Scope).ToList(),
                g.Key.Mechanism is EnforcementMechanism.RingBufferLog or EnforcementMechanism.LsmHook,
                g.First().Explanation))
            .ToList();
    }

    private async IAsyncEnumerable<ControlReply> EventsAsync(ControlRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        var live = request.Follow ? events.Subscribe(ct) : null;
        foreach (var e in events.RecentEvents.Where(e => Matches(request, e)))
            yield return ControlJson.Success(e);
        if (live is null)
            yield break;
        await foreach (var e in live.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (Matches(request, e))
                yield return ControlJson.Success(e);
        }
    }

    private static bool Matches(ControlRequest request, SyscallEventView e) =>
        (request.Pod is null || request.Pod == $"{e.Namespace}/{e.Pod}") &&
        (request.Container is null || request.Container == e.Container || (e.ContainerId?.StartsWith(request.Container, StringComparison.Ordinal) ?? false));

    private ControlReply Record(ControlRequest request)
    {
        if ((request.Pod is null) == (request.Container is null))
            return ControlJson.Failure("record needs exactly one of --pod NS/NAME or --container ID");
        try
        {
            return request.Verb switch
            {
                "record-start" => ControlJson.Success(policies.StartRecording(request.Pod, request.Container, request.WithArgs).Select(s => new RecordingStartView(s.ContainerId, s.WasRecording)).ToList()),
                "record-read" => ControlJson.Success(policies.ReadRecordings(request.Pod, request.Container).Select(RecordingViewOf).ToList()),
                "record-stop-args" => ControlJson.Success(policies.StopRecordingArguments(request.Pod, request.Container)),
                _ => ControlJson.Success(policies.StopRecording(request.Pod, request.Container)),
            };
        }
        catch (PolicySelectionException e)
        {
            return ControlJson.Failure(e.Message);
        }
    }

    private static RecordingView RecordingViewOf(ContainerRecording r)
    {
        var names = new Dictionary<string, IReadOnlyList<string>>();
        var unknown = new List<string>();
        foreach (var (arch, numbers) in r.Syscalls.Syscalls)
        {
            if (numbers.Count == 0)
                continue;
            var known = new List<string>();
            foreach (uint nr in numbers)
            {
                if (SyscallRecording.NameOf(arch, nr) is { } name)
                    known.Add(name);
                else
                    unknown.Add($"{SyscallTables.ScmpName(arch)}:{nr}");
            }
            names[SyscallTables.ScmpName(arch)] = known.Order(StringComparer.Ordinal).ToList();
        }
        return new RecordingView(r.Pod.Namespace, r.Pod.Name, r.Container.Name, r.Container.Id, r.Since, DateTimeOffset.UtcNow, r.Profile,
            names, unknown, r.Syscalls.OutOfRange, r.Syscalls.Arguments is { Count: > 0 } arguments ? arguments : null);
    }

    private ControlReply Apply(ControlRequest request)
    {
        if ((request.Pod is null) == (request.Container is null))
            return ControlJson.Failure("apply needs exactly one of --pod NS/NAME or --container ID");
        bool shadowVerb = request.Shadow is not null || request.NoShadow || request.PromoteShadow;
        if (request.Profile is null && request.Mode is null && !shadowVerb)
            return ControlJson.Failure("apply needs --profile REF, --mode MODE, --shadow REF, --no-shadow or --promote-shadow");
        if (shadowVerb && (request.Profile is not null || request.Mode is not null || (request.Shadow is not null ? 1 : 0) + (request.NoShadow ? 1 : 0) + (request.PromoteShadow ? 1 : 0) > 1))
            return ControlJson.Failure("apply takes --shadow REF, --no-shadow or --promote-shadow alone (not with each other, --profile or --mode)");
        try
        {
            var changed = request.PromoteShadow ? policies.PromoteShadow(request.Pod, request.Container)
                : shadowVerb ? policies.ApplyShadow(request.Pod, request.Container, request.Shadow, clear: request.NoShadow)
                : policies.Apply(request.Pod, request.Container, request.Profile, request.Mode);
            return ControlJson.Success(new ApplyResultView(Containers(changed)));
        }
        catch (PolicySelectionException e)
        {
            return ControlJson.Failure(e.Message);
        }
    }
}
