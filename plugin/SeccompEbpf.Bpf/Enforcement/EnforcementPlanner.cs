using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>
/// Decides, per action and syscall, which mechanism carries it on this kernel, applies the
/// UnenforceablePolicy, and produces the map image plus the report. Pure: no kernel calls.
/// </summary>
internal sealed class EnforcementPlanner(KernelCapabilities capabilities, UnenforceablePolicy policy)
{
    internal const int MaxRuleEntriesPerSyscall = 512; // SC_MAX_RULES_PER_SYSCALL
    internal const int ChecksPerEntry = 6;             // SC_MAX_CHECKS
    internal const uint RuleContinues = 0x80000000;    // SC_RULE_CONTINUES
    private const ushort Enosys = 38;

    /// <summary>
    /// The planner's result. NeedsSysEnter: some syscall the container can make gets an action other than ALLOW that
    /// its kernel seccomp floor does not already stop, so the sys_enter program (and the hooks it hands verdicts to)
    /// must run for this binding.
    /// </summary>
    internal sealed record Plan(ProfileImage Image, IReadOnlyList<ActionEnforcement> Report, IReadOnlyList<string> Refusals, ExactnessPlan Exactness, bool NeedsSysEnter);

    private sealed class Context(EnforcementMode mode, SeccompFloor? floor)
    {
        internal EnforcementMode Mode { get; } = mode;
        internal SeccompFloor? Floor { get; } = floor;
        internal List<ActionEnforcement> Report { get; } = [];
        internal HashSet<string> Reported { get; } = [];
        internal List<string> Refusals { get; } = [];
        internal bool Degraded { get; set; }
    }

    /// <summary>Plans a profile; <paramref name="floor"/> is the container's own kernel seccomp filter, or null: what it stops needs no BPF work and is exact.</summary>
    internal Plan Build(CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null)
    {
        Validate(profile);
        var context = new Context(mode, floor);
        var badArch = Resolve(context, profile.BadArchAction, SyscallTable.AuditArchX86_64, null, "architectures the profile does not list", preventable: false, fromDefault: false,
            floorVerdict: floor is null ? null : FloorCoversOtherArches(floor, profile));

        var archEntries = new List<(uint, ArchValue)>();
        var syscallEntries = new List<(uint, uint, SyscallValue)>();
        var rules = new List<RuleValue>();
        foreach (var arch in profile.Arches)
        {
            string archName = SyscallTable.ArchName(arch.AuditArch);
            var named = new HashSet<uint>();
            foreach (var syscall in arch.Syscalls)
            {
                named.Add(syscall.Nr);
                string scope = SyscallTable.Describe(arch.AuditArch, syscall.Nr);
                int firstRule = rules.Count;
                foreach (var rule in syscall.Rules)
                    rules.AddRange(ToRuleEntries(rule, Resolve(context, rule.Action, arch.AuditArch, syscall.Nr, scope, preventable: true, IsDefault(arch, rule.Action),
                        floorVerdict: floor?.Stops(arch.AuditArch, syscall, rule.Action))));
                var value = new SyscallValue
                {
                    Fallback = Resolve(context, syscall.Fallback, arch.AuditArch, syscall.Nr, scope, preventable: true, IsDefault(arch, syscall.Fallback),
                        floorVerdict: floor?.Stops(arch.AuditArch, syscall, syscall.Fallback)),
                    RuleCount = (uint)(rules.Count - firstRule),
                    FirstRule = (uint)firstRule,
                };
                syscallEntries.Add((arch.AuditArch, syscall.Nr, value));
            }

            var defaultAction = ResolveClass(context, arch.DefaultAction, arch.AuditArch, $"default action ({archName})",
                floor is null ? null : FloorCoversClass(floor, arch, enosysClass: false));
            var enosysAction = arch.EnosysFromNr is { } from
                ? ResolveClass(context, CompiledAction.Errno(Enosys), arch.AuditArch, $"syscalls numbered {from} and above, newer than the profile ({archName})",
                    floor is null ? null : FloorCoversClass(floor, arch, enosysClass: true))
                : default;
            archEntries.Add((arch.AuditArch, new ArchValue
            {
                DefaultAction = defaultAction,
                EnosysAction = enosysAction,
                EnosysFromNr = arch.EnosysFromNr ?? ArchValue.NoEnosys,
            }));

            // Unnamed syscalls that an LSM hook covers get their own entry (rule-less, so step 3 yields the
            // same action as steps 4-5 would): there the default can be prevented, not just signalled.
            if (capabilities.CanPreventSyscalls && mode == EnforcementMode.Enforce)
            {
                foreach (uint nr in LsmHookTable.CoveredNumbers(arch.AuditArch, capabilities))
                {
                    if (named.Contains(nr) || floor?.Stops(arch.AuditArch, nr) is not null)
                        continue; // the floor stops it before entry: no hook work for it
                    bool newer = arch.EnosysFromNr is { } limit && nr >= limit;
                    var requested = newer ? CompiledAction.Errno(Enosys) : arch.DefaultAction;
                    if (PreventingHooks(requested, arch.AuditArch, nr) is null)
                        continue; // ERRNO(0), or ENOSYS at prctl (see PreventingHooks): the class action applies

                    syscallEntries.Add((arch.AuditArch, nr, new SyscallValue
                    {
                        Fallback = new ScAction { Kind = (byte)requested.Kind, Flags = ScAction.Prevent, Data = requested.Data },
                    }));
                }
            }
        }

        var image = new ProfileImage
        {
            Hash = profile.Hash,
            Variant = (mode == EnforcementMode.Audit ? 3u
                : context.Degraded ? policy switch { UnenforceablePolicy.DegradeToKill => 1u, _ => 2u } : 0u) | (floor is null ? 0 : ProfileImage.FloorBit),
            FloorHash = floor?.Profile.Hash,
            BadArchAction = badArch,
        };
        image.Arches.AddRange(archEntries);
        image.Syscalls.AddRange(syscallEntries);
        image.Rules.AddRange(rules);
        return new Plan(image, context.Report, context.Refusals, Classify(profile, mode, floor), NeedsSysEnter(profile, floor));
    }

    /// <summary>
    /// Whether any syscall of any architecture gets an action other than ALLOW that the floor does not stop first.
    /// Decided over <see cref="SeccompFloor.Representatives"/>, so numbers outside the syscall tables count too.
    /// Without a floor the answer stays yes: the per-container decision counters (ps) come from sys_enter.
    /// </summary>
    internal static bool NeedsSysEnter(CompiledProfile profile, SeccompFloor? floor)
    {
        if (floor is null)
            return true;
        foreach (var arch in profile.Arches)
        {
            foreach (uint nr in floor.Representatives(arch.AuditArch, arch))
            {
                if (SeccompFloor.FindSyscall(arch, nr) is { } syscall)
                {
                    if (syscall.Rules.Select(r => r.Action).Append(syscall.Fallback).Any(a => a.Kind != SeccompAction.Allow && floor.Stops(arch.AuditArch, syscall, a) is null))
                        return true;
                }
                else if (ActionsOf(arch, nr).Any(a => a.Kind != SeccompAction.Allow) && floor.Stops(arch.AuditArch, nr) is null)
                    return true;
            }
        }
        return profile.BadArchAction.Kind != SeccompAction.Allow && FloorCoversOtherArches(floor, profile) is null;
    }

    /// <summary>The actions the profile can give (arch, nr): its rules and fallback, the ENOSYS stub, or the default.</summary>
    private static IEnumerable<CompiledAction> ActionsOf(CompiledArch arch, uint nr)
    {
        if (SeccompFloor.FindSyscall(arch, nr) is { } syscall)
            return syscall.Rules.Select(r => r.Action).Append(syscall.Fallback);
        if (arch.EnosysFromNr is { } from && nr >= from)
            return [CompiledAction.Errno(Enosys)];
        return [arch.DefaultAction];
    }

    /// <summary>The floor's verdict when it stops every number of a class of the profile's arch (default or ENOSYS stub), else null.</summary>
    private static FloorVerdict? FloorCoversClass(SeccompFloor floor, CompiledArch arch, bool enosysClass)
    {
        var verdicts = new List<FloorVerdict>();
        foreach (uint nr in floor.Representatives(arch.AuditArch, arch))
        {
            if (SeccompFloor.FindSyscall(arch, nr) is not null)
                continue;
            bool inEnosys = arch.EnosysFromNr is { } from && nr >= from;
            if (inEnosys != enosysClass)
                continue;
            if (floor.Stops(arch.AuditArch, nr) is not { } verdict)
                return null;
            verdicts.Add(verdict);
        }
        return Merge(verdicts);
    }

    /// <summary>The floor's verdict when it stops every syscall of every architecture the profile does not list, else null.</summary>
    private static FloorVerdict? FloorCoversOtherArches(SeccompFloor floor, CompiledProfile profile)
    {
        if (!SeccompFloor.IsStopping(floor.Profile.BadArchAction))
            return null; // an architecture neither lists
        var verdicts = new List<FloorVerdict> { new(floor.Profile.BadArchAction) };
        foreach (var arch in floor.Profile.Arches.Where(f => profile.Arches.All(a => a.AuditArch != f.AuditArch)))
        {
            foreach (uint nr in floor.Representatives(arch.AuditArch, null))
            {
                if (floor.Stops(arch.AuditArch, nr) is not { } verdict)
                    return null;
                verdicts.Add(verdict);
            }
        }
        return Merge(verdicts);
    }

    private static FloorVerdict? Merge(List<FloorVerdict> verdicts)
    {
        if (verdicts.Count == 0)
            return null; // an empty class: nothing to cover, and nothing to say
        var actions = verdicts.Select(v => v.Action).Distinct().ToList();
        return new FloorVerdict(actions.Count == 1 ? actions[0] : null);
    }

    /// <summary>
    /// The exactness class of every (syscall, action) of every architecture of the profile, per syscall of the
    /// architecture's table. Computed from the same decisions as the image (PreventingHooks, the policy), so what
    /// plan/ps/metrics claim is what the kernel programs do.
    /// </summary>
    internal ExactnessPlan Classify(CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null)
    {
        bool needsSysEnter = NeedsSysEnter(profile, floor);
        var arches = new List<ArchExactness>();
        foreach (var arch in profile.Arches)
        {
            var named = arch.Syscalls.ToDictionary(s => s.Nr);
            foreach (var (archName, numbers) in TableOf(arch.AuditArch))
            {
                var syscalls = new List<SyscallExactness>();
                foreach (var (name, nr) in numbers)
                {
                    var actions = new List<ActionExactness>();
                    named.TryGetValue(nr, out var namedSyscall);
                    void Add(CompiledAction action, ActionOrigin origin, bool fromDefault)
                    {
                        if (actions.Any(a => a.Action == action && a.Origin == origin))
                            return;
                        var stopped = namedSyscall is not null ? floor?.Stops(arch.AuditArch, namedSyscall, action) : floor?.Stops(arch.AuditArch, nr);
                        if (stopped is { } verdict && action.Kind is not (SeccompAction.Allow or SeccompAction.Log))
                            actions.Add(new ActionExactness(action, origin, Exactness.ExactBeforeEntry, verdict.ToString()));
                        else
                            actions.Add(new ActionExactness(action, origin, ClassOf(action, arch.AuditArch, nr, mode, fromDefault)));
                    }
                    if (named.TryGetValue(nr, out var syscall))
                    {
                        foreach (var action in syscall.Rules.Select(r => r.Action).Append(syscall.Fallback))
                            Add(action, IsDefault(arch, action) ? ActionOrigin.DefaultAction : ActionOrigin.Rule, IsDefault(arch, action));
                    }
                    else if (arch.EnosysFromNr is { } from && nr >= from)
                        Add(CompiledAction.Errno(Enosys), ActionOrigin.EnosysStub, fromDefault: true);
                    else
                        Add(arch.DefaultAction, ActionOrigin.DefaultAction, fromDefault: true);
                    syscalls.Add(new SyscallExactness(name, nr, actions));
                }
                arches.Add(new ArchExactness(archName, syscalls, needsSysEnter));
            }
        }
        return new ExactnessPlan(profile.Hash, mode, policy, arches, needsSysEnter, floor?.Source);
    }

    /// <summary>The syscall tables seccomp sees under one AUDIT_ARCH: x86_64's also carries the x32 numbers (bit 0x40000000).</summary>
    private static IEnumerable<(string Arch, IReadOnlyList<(string Name, uint Nr)> Numbers)> TableOf(uint auditArch)
    {
        switch (auditArch)
        {
            case SyscallTable.AuditArchX86_64:
                yield return ("x86_64", SyscallTables.Entries(SyscallArch.X86_64));
                yield return ("x32", SyscallTables.Entries(SyscallArch.X32).Select(e => (e.Name, e.Nr | SyscallTable.X32Bit)).ToList());
                break;
            case SyscallTable.AuditArchI386:
                yield return ("i386", SyscallTables.Entries(SyscallArch.I386));
                break;
            case SyscallTable.AuditArchAarch64:
                yield return ("aarch64", SyscallTables.Entries(SyscallArch.Aarch64));
                break;
        }
    }

    /// <summary>The same decision as Resolve, as a class: exact before entry, killed after entry, not prevented, or refused.</summary>
    private Exactness ClassOf(CompiledAction requested, uint auditArch, uint nr, EnforcementMode mode, bool fromDefault)
    {
        if (requested.Kind is SeccompAction.Allow or SeccompAction.Log)
            return Exactness.ExactBeforeEntry; // nothing to prevent: the syscall runs, as under seccomp
        if (mode == EnforcementMode.Audit)
            return Exactness.NotPrevented;
        if (PreventingHooks(requested, auditArch, nr) is not null)
            return Exactness.ExactBeforeEntry;
        if (requested.Kind is SeccompAction.KillProcess or SeccompAction.KillThread)
            return Exactness.KilledAfterEntry;
        return UnpreventableBecomes(requested, fromDefault) switch
        {
            UnenforceablePolicy.DegradeToKill => Exactness.KilledAfterEntry,
            UnenforceablePolicy.DegradeToLog or UnenforceablePolicy.LogUnpreventableDefault => Exactness.NotPrevented,
            _ => Exactness.Refused,
        };
    }

    /// <summary>
    /// Whether an action of a named syscall is the profile's default action. Rules that fall through to the default
    /// compile to that same action (Docker's socket: ALLOW unless AF_VSOCK, which gets the default ERRNO), and an
    /// action equal to the default denies nothing more than the default does, so it is treated as the default.
    /// </summary>
    private static bool IsDefault(CompiledArch arch, CompiledAction action) => action == arch.DefaultAction;

    /// <summary>
    /// The policy that applies to one unpreventable action: LogUnpreventableDefault lets the default action and
    /// "not implemented" answers (ERRNO(ENOSYS): runc's stub, Docker's clone3 rule) run logged, and refuses the rest.
    /// </summary>
    private UnenforceablePolicy UnpreventableBecomes(CompiledAction requested, bool fromDefault)
        => policy != UnenforceablePolicy.LogUnpreventableDefault ? policy
            : fromDefault || (requested.Kind == SeccompAction.Errno && requested.Data == Enosys) ? UnenforceablePolicy.LogUnpreventableDefault
            : UnenforceablePolicy.Refuse;

    /// <summary>
    /// The LSM hooks that stop this syscall with this action before it takes effect, or null. ERRNO(0) means "return 0
    /// without running the syscall", but a hook returning 0 lets the operation run; and prctl reads -ENOSYS from
    /// security_task_prctl as "no module has an opinion" and runs.
    /// </summary>
    private string[]? PreventingHooks(CompiledAction requested, uint auditArch, uint nr)
    {
        if (!capabilities.CanPreventSyscalls || !NeedsPrevention(requested.Kind))
            return null;
        if (LsmHookTable.HooksFor(auditArch, nr, capabilities) is not { } hooks)
            return null;
        if (requested.Kind == SeccompAction.Errno && requested.Data == 0)
            return null;
        if (HandsOverEnosys(requested) && hooks.Contains("task_prctl"))
            return null;
        return hooks;
    }

    /// <summary>Verdicts the LSM hooks return as -ENOSYS (see prevention_errno in bpf/seccomp.bpf.c).</summary>
    private static bool HandsOverEnosys(CompiledAction action)
        => action.Kind is SeccompAction.Trace or SeccompAction.Notify || (action.Kind == SeccompAction.Errno && action.Data == Enosys);

    private static bool NeedsPrevention(SeccompAction kind)
        => kind is SeccompAction.Errno or SeccompAction.Trace or SeccompAction.Notify or SeccompAction.Trap or SeccompAction.KillThread or SeccompAction.KillProcess;

    /// <summary>One rule as map entries of up to six checks each; all but the last are marked to continue into the next.</summary>
    private static IEnumerable<RuleValue> ToRuleEntries(CompiledRule rule, ScAction action)
    {
        int entries = Math.Max(1, (rule.Checks.Count + ChecksPerEntry - 1) / ChecksPerEntry);
        for (int entry = 0; entry < entries; entry++)
        {
            var checks = rule.Checks.Skip(entry * ChecksPerEntry).Take(ChecksPerEntry).ToList();
            var value = new RuleValue
            {
                CheckCount = (uint)checks.Count | (entry < entries - 1 ? RuleContinues : 0),
                Action = action,
            };
            for (int i = 0; i < checks.Count; i++)
                value.Checks[i] = new ArgCheckValue { Index = checks[i].Index, Op = (byte)checks[i].Op, Value = checks[i].Value, Datum = checks[i].Datum };
            yield return value;
        }
    }

    internal static int RuleEntries(CompiledSyscall syscall)
        => syscall.Rules.Sum(r => Math.Max(1, (r.Checks.Count + ChecksPerEntry - 1) / ChecksPerEntry));

    /// <summary>An action for a class of syscalls (default, ENOSYS stub): preventable only for LSM-table syscalls, which get their own entries.</summary>
    private ScAction ResolveClass(Context context, CompiledAction requested, uint auditArch, string scope, FloorVerdict? floorVerdict)
    {
        if (floorVerdict is not null)
            return Resolve(context, requested, auditArch, null, scope, preventable: false, fromDefault: true, floorVerdict: floorVerdict);
        bool partlyPrevented = capabilities.CanPreventSyscalls && context.Mode == EnforcementMode.Enforce && NeedsPrevention(requested.Kind);
        string prefix = partlyPrevented
            ? $"the {LsmHookTable.SyscallCount} syscalls of the LSM hook table are stopped at their hook; for the others: "
            : "";
        return Resolve(context, requested, auditArch, null, scope, preventable: false, fromDefault: true, prefix);
    }

    private ScAction Resolve(Context context, CompiledAction requested, uint auditArch, uint? nr, string scope, bool preventable, bool fromDefault, string prefix = "", FloorVerdict? floorVerdict = null)
    {
        var kind = requested.Kind;
        string what = $"{requested} for {scope}";
        ScAction Exact(byte flags = 0) => new() { Kind = (byte)kind, Flags = flags, Data = requested.Data };

        if (kind == SeccompAction.Allow)
            return Exact();
        if (floorVerdict is { } floor && kind != SeccompAction.Log)
        {
            // Never reaches sys_enter: the kernel ran the container's own filter first. The entry stays as written
            // (it is never consulted), so the image does not depend on the floor beyond the LSM entries left out.
            string differs = floor.Action == requested ? "" : $"; the container observes the floor's {floor} instead of {requested}";
            Add(context, scope, requested, floor.Action ?? requested, EnforcementMechanism.KernelSeccomp,
                $"{what}: stopped before entry by the container's own kernel seccomp filter ({context.Floor?.Source}){differs}");
            return Exact();
        }
        if (kind == SeccompAction.Log)
        {
            Add(context, scope, requested, requested, EnforcementMechanism.RingBufferLog, $"{what}: allowed and logged from sys_enter (rate-limited per container)");
            return Exact();
        }
        if (context.Mode == EnforcementMode.Audit)
        {
            Add(context, scope, requested, requested, EnforcementMechanism.AuditLog, $"{what}: audit mode, logged instead of applied");
            return Exact();
        }

        string[]? covering = preventable && nr is { } number && capabilities.CanPreventSyscalls ? LsmHookTable.HooksFor(auditArch, number, capabilities) : null;
        string[]? hooks = covering is not null ? PreventingHooks(requested, auditArch, nr!.Value) : null;
        bool errnoZero = kind == SeccompAction.Errno && requested.Data == 0;
        bool enosysAtPrctl = covering is not null && HandsOverEnosys(requested) && covering.Contains("task_prctl");
        if (hooks is not null)
        {
            // the fallback stops the syscall at the same point (the function that calls the hook), so it is named, not ranked lower
            string at = (capabilities.PreventsThroughFmodRet
                ? $"stopped at fmod_ret on {string.Join("/", hooks.Select(LsmHookTable.SecurityFunction))} (BPF LSM does not run here)"
                : $"stopped at the BPF LSM hook {string.Join("/", hooks)}") + (hooks.Contains("file_open") ? " (except O_PATH opens)" : "");
            string how = kind switch
            {
                SeccompAction.Errno => $"{at}, which returns -{requested.Data}",
                SeccompAction.Trace => $"no tracer: {at}, which returns -ENOSYS",
                SeccompAction.Notify => $"no listener: {at}, which returns -ENOSYS",
                SeccompAction.Trap => $"{at}, then SIGSYS (its siginfo lacks the SYS_SECCOMP fields)",
                SeccompAction.KillThread => $"{at}, then SIGKILL to the whole process (a thread-only kill is not possible)",
                _ => $"{at}, then SIGKILL",
            };
            Add(context, scope, requested, requested, EnforcementMechanism.LsmHook, $"{what}: {prefix}{how}");
            return Exact(ScAction.Prevent);
        }

        string noPrevention = errnoZero
            ? "ERRNO(0) (succeed without running the syscall) has no LSM form: a hook that returns 0 lets the syscall run"
            : enosysAtPrctl
                ? "the task_prctl hook cannot return ENOSYS: prctl takes -ENOSYS from it as 'no opinion' and runs"
                : NoPreventionReason(nr, preventable);
        if (kind is SeccompAction.KillProcess or SeccompAction.KillThread)
        {
            string thread = kind == SeccompAction.KillThread ? " (SIGKILL takes the whole process)" : "";
            Add(context, scope, requested, requested, EnforcementMechanism.SignalAfterEntry,
                $"{what}: {prefix}signal after entry: the syscall may complete before the process dies{thread} ({noPrevention})");
            return Exact();
        }

        string reason = $"{what}: {prefix}{noPrevention}";
        switch (UnpreventableBecomes(requested, fromDefault))
        {
            case UnenforceablePolicy.LogUnpreventableDefault:
                context.Degraded = true;
                string covered = fromDefault ? "the profile's default action" : "a 'not implemented' (ENOSYS) answer";
                Add(context, scope, requested, new CompiledAction(SeccompAction.Log), EnforcementMechanism.Degraded,
                    $"{reason}: not prevented: {covered}, allowed and logged (onUnenforceable log-unpreventable-default)");
                return new ScAction { Kind = (byte)SeccompAction.Log, Flags = ScAction.Degraded };
            case UnenforceablePolicy.DegradeToKill:
                context.Degraded = true;
                var kill = new CompiledAction(SeccompAction.KillProcess);
                Add(context, scope, requested, kill, EnforcementMechanism.Degraded, $"{reason}: degraded to KILL after the call (SIGKILL at entry; the syscall may complete)");
                return new ScAction { Kind = (byte)SeccompAction.KillProcess, Flags = ScAction.Degraded };
            case UnenforceablePolicy.DegradeToLog:
                context.Degraded = true;
                var log = new CompiledAction(SeccompAction.Log);
                Add(context, scope, requested, log, EnforcementMechanism.Degraded, $"{reason}: degraded to LOG (the syscall runs and is logged)");
                return new ScAction { Kind = (byte)SeccompAction.Log, Flags = ScAction.Degraded };
            default:
                Add(context, scope, requested, requested, EnforcementMechanism.Refused, $"{reason}: refused");
                context.Refusals.Add($"{reason}: refused");
                return Exact();
        }
    }

    private string NoPreventionReason(uint? nr, bool preventable)
    {
        string injection = $"no error injection on this kernel (fmod_ret: {capabilities[KernelMechanism.FmodRet].ErrnoName}, kprobe override: {capabilities[KernelMechanism.KprobeOverride].ErrnoName})";
        if (!capabilities.CanPreventSyscalls)
            return $"BPF LSM unavailable ({capabilities[KernelMechanism.BpfLsm].ErrnoName}), no fmod_ret on security_* functions ({capabilities[KernelMechanism.FmodRetSecurity].ErrnoName}) and {injection}";
        if (!preventable || nr is null)
            return $"these syscalls reach no LSM hook and {injection}";
        return $"no LSM hook reached and {injection}";
    }

    private static void Add(Context context, string scope, CompiledAction requested, CompiledAction applied, EnforcementMechanism mechanism, string explanation)
    {
        if (context.Reported.Add($"{scope}|{requested}|{mechanism}"))
            context.Report.Add(new ActionEnforcement(scope, requested, applied, mechanism, explanation));
    }

    private static void Validate(CompiledProfile profile)
    {
        if (profile.Hash is not { Length: 64 } || !profile.Hash.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
            throw new ArgumentException($"profile hash '{profile.Hash}' is not 64 lower-case hex digits", nameof(profile));
        var arches = new HashSet<uint>();
        foreach (var arch in profile.Arches)
        {
            if (!arches.Add(arch.AuditArch))
                throw new ArgumentException($"profile {profile.Hash[..12]}: architecture {SyscallTable.ArchName(arch.AuditArch)} appears twice", nameof(profile));
            var numbers = new HashSet<uint>();
            foreach (var syscall in arch.Syscalls)
            {
                string scope = SyscallTable.Describe(arch.AuditArch, syscall.Nr);
                if (!numbers.Add(syscall.Nr))
                    throw new ArgumentException($"profile {profile.Hash[..12]}: {scope} appears twice", nameof(profile));
                if (RuleEntries(syscall) is var entries && entries > MaxRuleEntriesPerSyscall)
                    throw new ArgumentException($"profile {profile.Hash[..12]}: {scope} has {syscall.Rules.Count} conditional rules needing {entries} map entries of {ChecksPerEntry} checks; the BPF evaluator takes at most {MaxRuleEntriesPerSyscall}", nameof(profile));
                foreach (var rule in syscall.Rules)
                {
                    foreach (var check in rule.Checks)
                    {
                        if (check.Index > 5)
                            throw new ArgumentException($"profile {profile.Hash[..12]}: a rule of {scope} checks argument {check.Index}; syscalls have arguments 0-5", nameof(profile));
                        if (check.Op is < CompareOp.NotEqual or > CompareOp.MaskedEqual)
                            throw new ArgumentException($"profile {profile.Hash[..12]}: a rule of {scope} has unknown operator {(byte)check.Op}", nameof(profile));
                    }
                }
            }
        }
    }
}
