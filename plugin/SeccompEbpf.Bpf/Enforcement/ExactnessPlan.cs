using System.Text.Json.Serialization;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>How exactly one (syscall, action) of a bound profile is carried out on this kernel (ARCHITECTURE.md invariant 9).</summary>
/// <remarks>Ordered from best to worst: a syscall's class is the worst class of the actions it can produce.</remarks>
[JsonConverter(typeof(JsonStringEnumConverter<Exactness>))]
public enum Exactness
{
    /// <summary>As under seccomp: ALLOW/LOG, or stopped before its side effect (an LSM hook it reaches, or the container's own kernel seccomp filter).</summary>
    ExactBeforeEntry,
    /// <summary>SIGKILL at syscall entry: the process dies, but the syscall may complete first.</summary>
    KilledAfterEntry,
    /// <summary>The syscall runs (logged): audit mode, DegradeToLog, or LogUnpreventableDefault.</summary>
    NotPrevented,
    /// <summary>Cannot be carried out and the policy refuses: Bind fails.</summary>
    Refused,
}

/// <summary>Where an action of a syscall comes from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ActionOrigin>))]
public enum ActionOrigin
{
    /// <summary>An action the profile writes for this syscall (a rule, or the syscall's own action).</summary>
    Rule,
    /// <summary>The profile's default action (the syscall is not named, or its argument rules fall through).</summary>
    DefaultAction,
    /// <summary>runc's ERRNO(ENOSYS) stub for syscalls newer than the profile.</summary>
    EnosysStub,
}

/// <summary>
/// One action a syscall can produce, with its class. KernelSeccomp: the action of the container's own kernel seccomp
/// filter when that filter stops the syscall before entry (the container observes it, not Action), else null.
/// </summary>
public sealed record ActionExactness(CompiledAction Action, ActionOrigin Origin, Exactness Class, string? KernelSeccomp = null)
{
    /// <summary>The floor stops the syscall with something other than the profile's action (another errno, another kind).</summary>
    public bool FloorDiffers => KernelSeccomp is not null && KernelSeccomp != Action.ToString();
}

/// <summary>One syscall of an architecture's table and the actions the profile gives it.</summary>
public sealed record SyscallExactness(string Name, uint Nr, IReadOnlyList<ActionExactness> Actions)
{
    /// <summary>The worst class among the actions.</summary>
    public Exactness Class => Actions.Count == 0 ? Exactness.ExactBeforeEntry : Actions.Max(a => a.Class);

    /// <summary>The container's own kernel seccomp filter stops every action of this syscall that the profile denies.</summary>
    public bool ByKernelSeccomp => Actions.Any(a => a.KernelSeccomp is not null);
}

/// <summary>Every syscall of one ABI (x86_64, x32, i386, aarch64); NeedsSysEnter is the whole plan's (one program serves every ABI).</summary>
public sealed record ArchExactness(string Arch, IReadOnlyList<SyscallExactness> Syscalls, bool NeedsSysEnter = true)
{
    /// <summary>Counts and names per class.</summary>
    public ExactnessSummary Summary => ExactnessSummary.Of(Arch, Syscalls, NeedsSysEnter);
}

/// <summary>Syscall counts per class for one ABI, with the names of those not exact.</summary>
public sealed record ExactnessSummary(
    string Arch,
    int Exact,
    int AfterEntry,
    int NotPrevented,
    int Refused,
    IReadOnlyList<string> AfterEntrySyscalls,
    IReadOnlyList<string> NotPreventedSyscalls,
    IReadOnlyList<string> RefusedSyscalls)
{
    /// <summary>Exact syscalls that the container's own kernel seccomp filter stops (part of <see cref="Exact"/>).</summary>
    public int KernelSeccomp { get; init; }

    /// <summary>Syscalls the kernel seccomp filter stops with another action than the profile's (e.g. another errno): the container observes the filter's.</summary>
    public IReadOnlyList<string> FloorDiffersSyscalls { get; init; } = [];

    /// <summary>The binding needs the sys_enter program; false when nothing it must do is left after the kernel seccomp filter.</summary>
    public bool NeedsSysEnter { get; init; } = true;

    internal static ExactnessSummary Of(string arch, IReadOnlyList<SyscallExactness> syscalls, bool needsSysEnter = true)
    {
        List<string> Names(Exactness c) => syscalls.Where(s => s.Class == c).Select(s => s.Name).ToList();
        var after = Names(Exactness.KilledAfterEntry);
        var notPrevented = Names(Exactness.NotPrevented);
        var refused = Names(Exactness.Refused);
        return new ExactnessSummary(arch, syscalls.Count(s => s.Class == Exactness.ExactBeforeEntry), after.Count, notPrevented.Count, refused.Count,
            after, notPrevented, refused)
        {
            KernelSeccomp = syscalls.Count(s => s.Class == Exactness.ExactBeforeEntry && s.ByKernelSeccomp),
            FloorDiffersSyscalls = syscalls.Where(s => s.Actions.Any(a => a.FloorDiffers)).Select(s => s.Name).ToList(),
            NeedsSysEnter = needsSysEnter,
        };
    }

    /// <summary>
    /// e.g. "exact 291 · after-entry 3 · not prevented 9" (refused only when some are), with "(kernel seccomp N)" after
    /// the exact count when a kernel seccomp filter stops some, and "· no sys_enter" when the binding needs none.
    /// </summary>
    public override string ToString()
        => $"exact {Exact}" + (KernelSeccomp > 0 ? $" (kernel seccomp {KernelSeccomp})" : "")
           + $" · after-entry {AfterEntry} · not prevented {NotPrevented}" + (Refused > 0 ? $" · refused {Refused}" : "")
           + (NeedsSysEnter ? "" : " · no sys_enter");
}

/// <summary>
/// The exactness of every syscall of a profile on one kernel, under one mode and UnenforceablePolicy. NeedsSysEnter:
/// the binding needs the sys_enter program; FloorSource: where the container's kernel seccomp filter the plan takes
/// into account came from (null: none).
/// </summary>
public sealed record ExactnessPlan(string ProfileHash, EnforcementMode Mode, UnenforceablePolicy Policy, IReadOnlyList<ArchExactness> Arches, bool NeedsSysEnter = true, string? FloorSource = null)
{
    /// <summary>The summary of the node's native ABI (the first listed: x86_64 or aarch64), or an empty one.</summary>
    public ExactnessSummary Summary => (Arches.FirstOrDefault(a => a.Arch is "x86_64" or "aarch64") ?? Arches.FirstOrDefault()) is { } native
        ? ExactnessSummary.Of(native.Arch, native.Syscalls, NeedsSysEnter)
        : new ExactnessSummary("none", 0, 0, 0, 0, [], [], []) { NeedsSysEnter = NeedsSysEnter };
}

/// <summary>A profile planned on a kernel without binding it: the classes, the per-action report and what Bind would refuse.</summary>
public sealed record ProfilePlan(ExactnessPlan Exactness, IReadOnlyList<ActionEnforcement> Actions, IReadOnlyList<string> Refusals);

/// <summary>Plans a profile on a kernel without binding it (for <c>seccomp-ebpf profile plan</c>).</summary>
public static class EnforcementPlans
{
    /// <summary>What Bind would do with the profile on a kernel with these capabilities; pure, no kernel calls.</summary>
    /// <exception cref="ArgumentException">The profile exceeds what the BPF evaluator takes (see EnforcementPlanner).</exception>
    /// <remarks><paramref name="floor"/>: the container's own kernel seccomp filter, or null (see <see cref="SeccompFloor"/>).</remarks>
    public static ProfilePlan Plan(Probing.KernelCapabilities capabilities, UnenforceablePolicy policy, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        ArgumentNullException.ThrowIfNull(profile);
        var plan = new EnforcementPlanner(capabilities, policy).Build(profile, mode, floor);
        return new ProfilePlan(plan.Exactness, plan.Report, plan.Refusals);
    }

    /// <summary>The exactness of every syscall of the profile; pure, no kernel calls.</summary>
    public static ExactnessPlan Classify(Probing.KernelCapabilities capabilities, UnenforceablePolicy policy, CompiledProfile profile, EnforcementMode mode)
        => Plan(capabilities, policy, profile, mode).Exactness;
}
