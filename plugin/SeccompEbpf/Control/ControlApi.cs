using System.Runtime.CompilerServices;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;

namespace SeccompEbpf.Control;

/// <summary>What the control socket can be asked: ps, events, apply.</summary>
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
            default:
                yield return ControlJson.Failure($"unknown verb \"{request.Verb}\" (ps, events, apply)");
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
                gate.RecordOf(container.CgroupId) is { } gap ? new UnprotectedGapView(gate.Mode, gap.Execs, gap.Denied, gap.LastPid, gap.LastComm, gap.BoundToFallback ? gate.FallbackProfile : null) : null));
        }
        return views;
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

    private ControlReply Apply(ControlRequest request)
    {
        if ((request.Pod is null) == (request.Container is null))
            return ControlJson.Failure("apply needs exactly one of --pod NS/NAME or --container ID");
        if (request.Profile is null && request.Mode is null)
            return ControlJson.Failure("apply needs --profile REF or --mode MODE");
        try
        {
            var changed = policies.Apply(request.Pod, request.Container, request.Profile, request.Mode);
            return ControlJson.Success(new ApplyResultView(Containers(changed)));
        }
        catch (PolicySelectionException e)
        {
            return ControlJson.Failure(e.Message);
        }
    }
}
