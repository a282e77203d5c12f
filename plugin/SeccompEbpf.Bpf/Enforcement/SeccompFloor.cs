using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>
/// The container's own kernel seccomp filter (the <c>linux.seccomp</c> of its OCI spec, installed by runc), compiled.
/// The kernel runs seccomp filters in syscall_trace_enter before the sys_enter tracepoint, so a syscall this filter
/// stops never reaches the BPF programs: for it the floor's action is what the container observes.
/// </summary>
/// <param name="Profile">The filter, compiled as runc builds it.</param>
/// <param name="Source">What kind of source it was read from, e.g. "task bundle config.json" (shared by every container with this floor; for logs and plan output).</param>
public sealed record SeccompFloor(CompiledProfile Profile, string Source)
{
    /// <summary>
    /// What the floor does with (arch, nr) when it stops the syscall before entry for every argument value, else null.
    /// Stopping actions are ERRNO (including ERRNO(0): the syscall is skipped), TRAP and the kills. TRACE and
    /// USER_NOTIF do not count: a tracer or a listener may let the syscall run. <see cref="FloorVerdict.Action"/> is
    /// null when the stopping action depends on the arguments.
    /// </summary>
    internal FloorVerdict? Stops(uint auditArch, uint nr)
    {
        var arch = Profile.Arches.FirstOrDefault(a => a.AuditArch == auditArch);
        if (arch is null)
            return IsStopping(Profile.BadArchAction) ? new FloorVerdict(Profile.BadArchAction) : null;
        var syscall = FindSyscall(arch, nr);
        if (syscall is not null)
        {
            var actions = syscall.Rules.Select(r => r.Action).Append(syscall.Fallback).Distinct().ToList();
            if (!actions.All(IsStopping))
                return null;
            return new FloorVerdict(actions.Count == 1 ? actions[0] : null);
        }
        var action = arch.EnosysFromNr is { } from && nr >= from ? CompiledAction.Errno(38) : arch.DefaultAction;
        return IsStopping(action) ? new FloorVerdict(action) : null;
    }

    /// <summary>
    /// What the floor does with <paramref name="action"/> of the profile's <paramref name="syscall"/>: stopped when
    /// the floor stops the syscall whatever its arguments, or when the floor decides the syscall exactly as the profile
    /// does (the same rules, the same fallback: runtime/default under RuntimeDefault) and the action is a stopping one.
    /// </summary>
    internal FloorVerdict? Stops(uint auditArch, CompiledSyscall syscall, CompiledAction action)
    {
        if (Stops(auditArch, syscall.Nr) is { } verdict)
            return verdict;
        if (!IsStopping(action))
            return null;
        var arch = Profile.Arches.FirstOrDefault(a => a.AuditArch == auditArch);
        var mine = arch is null ? null : FindSyscall(arch, syscall.Nr);
        return mine is not null && SameDecision(mine, syscall) ? new FloorVerdict(action) : null;
    }

    private static bool SameDecision(CompiledSyscall a, CompiledSyscall b)
        => a.Fallback == b.Fallback && a.Rules.Count == b.Rules.Count
           && a.Rules.Zip(b.Rules).All(pair => pair.First.Action == pair.Second.Action && pair.First.Checks.SequenceEqual(pair.Second.Checks));

    internal static CompiledSyscall? FindSyscall(CompiledArch arch, uint nr)
    {
        // Syscalls are sorted by Nr (CompiledArch's contract)
        int lo = 0, hi = arch.Syscalls.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            uint at = arch.Syscalls[mid].Nr;
            if (at == nr)
                return arch.Syscalls[mid];
            if (at < nr)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return null;
    }

    /// <summary>Kernel actions that stop a syscall before it is entered whatever else is attached to the task.</summary>
    internal static bool IsStopping(CompiledAction action)
        => action.Kind is SeccompAction.Errno or SeccompAction.Trap or SeccompAction.KillThread or SeccompAction.KillProcess;

    /// <summary>
    /// Syscall numbers that stand for every number of <paramref name="auditArch"/> as far as the profile and the floor
    /// decide: both decide by named numbers and by "at or above EnosysFromNr", so between two such boundaries every
    /// number is decided alike, and the first number after each boundary represents its stretch.
    /// </summary>
    internal IEnumerable<uint> Representatives(uint auditArch, CompiledArch? ours)
    {
        var points = new SortedSet<uint> { 0, uint.MaxValue };
        void AddArch(CompiledArch? arch)
        {
            if (arch is null)
                return;
            foreach (var s in arch.Syscalls)
                AddPoint(s.Nr);
            if (arch.EnosysFromNr is { } from)
                AddPoint(from);
        }
        void AddPoint(uint nr)
        {
            points.Add(nr);
            if (nr < uint.MaxValue)
                points.Add(nr + 1);
            if (nr > 0)
                points.Add(nr - 1);
        }
        AddArch(ours);
        AddArch(Profile.Arches.FirstOrDefault(a => a.AuditArch == auditArch));
        return points;
    }
}

/// <summary>The floor stops a syscall before entry; <paramref name="Action"/> is what it does, or null when that depends on the arguments.</summary>
internal readonly record struct FloorVerdict(CompiledAction? Action)
{
    public override string ToString() => Action?.ToString() ?? "a stopping action that depends on the arguments";
}
