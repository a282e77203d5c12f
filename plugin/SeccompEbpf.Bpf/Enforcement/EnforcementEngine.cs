using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>
/// Enforces compiled seccomp profiles on cgroups (containers) with eBPF. Bindings are live-updatable and
/// atomic, pinned in bpffs so they outlive the engine, and adopted by the next engine.
/// </summary>
public sealed partial class EnforcementEngine : IDisposable
{
    private readonly EngineOptions _options;
    private readonly ILogger _logger;
    private readonly BpfObject _object;
    private readonly Maps _maps;
    private readonly EnforcementPlanner _planner;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SlotRecord> _slotsByKey = [];
    private readonly Dictionary<uint, SlotRecord> _slotsById = [];
    private readonly Dictionary<ulong, BindingRecord> _bindings = [];
    private SlotRecord? _gateFallback; // the exec gate's fallback profile (gate mode profile), or null
    private readonly Dictionary<int, int> _bindingsPerLevel = [];
    private readonly SortedSet<uint> _freeSlotIds = [];
    private uint _nextSlotId = 1;
    private readonly HashSet<SlotRecord> _retired = [];
    private long _retireEpoch;
    private const int ReclaimBatch = 64;
    private readonly Timer _reclaimTimer;
    private bool _disposedObject;
    private readonly Channel<SyscallEvent> _events;
    private readonly RingBufferReader _eventReader;
    private readonly IReadOnlyList<string> _enforcementPrograms;
    private bool _disposed;

    private EnforcementEngine(EngineOptions options, ILoggerFactory loggers, KernelCapabilities capabilities, BpfObject obj, Maps maps, IReadOnlyList<string> enforcementPrograms)
    {
        _options = options;
        _logger = loggers.CreateLogger<EnforcementEngine>();
        Capabilities = capabilities;
        _object = obj;
        _maps = maps;
        _enforcementPrograms = enforcementPrograms;
        _planner = new EnforcementPlanner(capabilities, options.OnUnenforceable);
        _events = Channel.CreateBounded<SyscallEvent>(new BoundedChannelOptions(options.EventChannelCapacity)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the drop is counted
        });
        _eventReader = new RingBufferReader(maps.Events.Fd, OnEventRecord, _logger);
        _reclaimTimer = new Timer(_ => ReclaimInBackground(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private void ReclaimInBackground()
    {
        try
        {
            ReclaimRetired();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "reclaiming retired profile slots failed");
        }
    }

    /// <summary>Probes the kernel, adopts pinned state under PinRoot if present (else loads fresh), mounting bpffs if needed.</summary>
    public static EnforcementEngine Open(EngineOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.LogEventsPerSecondPerContainer < 0)
            throw new ArgumentOutOfRangeException(nameof(options), "LogEventsPerSecondPerContainer must be 0 (unlimited) or more");
        if (options.EventChannelCapacity < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "EventChannelCapacity must be at least 1");
        VmlinuxBtf.ReadAhead(); // the hook table's check reads it, beside the capability record or the probes
        LibbpfLog.Install(loggers);
        var logger = loggers.CreateLogger<EnforcementEngine>();
        byte[] image = BpfObject.EmbeddedImage();
        var capabilities = options.CapabilityRecordPath is { } record
            ? CapabilityCache.ProbeOrReuse(record, image, logger, () => CapabilityProber.Probe(image, logger))
            : CapabilityProber.Probe(image, logger);
        foreach (var required in new[] { KernelMechanism.RawTracepoint, KernelMechanism.RingBuffer })
            if (!capabilities.Has(required))
                throw new BpfException($"probe {required}", capabilities[required].Errno, $"the engine cannot work without it: {capabilities[required].Detail}");

        BpfFs.EnsureMounted(options.PinRoot);
        Directory.CreateDirectory(Path.Combine(options.PinRoot, "maps"));
        Directory.CreateDirectory(Path.Combine(options.PinRoot, "links"));

        return LoadOrFallBack(options, loggers, logger, image, capabilities);
    }

    private static EnforcementEngine LoadOrFallBack(EngineOptions options, ILoggerFactory loggers, ILogger logger, byte[] image, KernelCapabilities capabilities)
    {
        try
        {
            return Load(options, loggers, logger, image, capabilities);
        }
        catch (BpfException e) when (capabilities.CanPreventSyscalls && e.Operation.StartsWith("bpf_object__load", StringComparison.Ordinal))
        {
            // the probe loaded, but some hook program did not: enforce without that family (BPF LSM, then the fmod_ret
            // fallback, then none) rather than not at all, and say so. Each retry marks one more mechanism unavailable.
            var family = capabilities.PreventsThroughFmodRet ? KernelMechanism.FmodRetSecurity : KernelMechanism.BpfLsm;
            if (family == KernelMechanism.BpfLsm)
                logger.LogWarning("the BPF LSM programs were refused ({Error}); continuing without LSM prevention", e.Message);
            else
                logger.LogWarning("the fmod_ret programs on security_* functions were refused ({Error}); continuing without them", e.Message);
            var without = new KernelCapabilities(capabilities.KernelRelease, capabilities.ActiveLsms,
                capabilities.Probes.Select(p => p.Mechanism == family
                    ? new MechanismProbe(family, false, e.Errno, $"the probe loaded but the enforcement hooks were refused: {e.Message}")
                    : p).ToList());
            return LoadOrFallBack(options, loggers, logger, image, CapabilityProber.WithHookCheck(without, logger));
        }
    }

    private static EnforcementEngine Load(EngineOptions options, ILoggerFactory loggers, ILogger logger, byte[] image, KernelCapabilities capabilities)
    {
        var obj = BpfObject.Open(image);
        EnforcementEngine? engine = null;
        try
        {
            // hooks this kernel lacks are left out (libbpf would refuse the whole object); the planner claims none of their
            // syscalls. One family only: lsm_* where BPF LSM runs, else fmodret_* (the same bodies on security_* functions).
            var lsmPrograms = capabilities.CanPreventSyscalls ? LsmHookTable.ProgramsFor(capabilities.MissingLsmHooks, capabilities.PreventsThroughFmodRet) : [];
            foreach (var program in obj.ProgramNames)
                obj.SetAutoload(program, program == SysEnterProgram || program == GateProgram || lsmPrograms.Contains(program));
            var adopted = Pins.ReusePinnedMaps(obj, options.PinRoot, logger);
            obj.Load();
            Pins.PinNewMaps(obj, options.PinRoot, adopted);
            var maps = new Maps(obj);
            engine = new EnforcementEngine(options, loggers, capabilities, obj, maps, [SysEnterProgram, .. lsmPrograms]);
            engine.AdoptPinnedState(adopted.Count > 0);
            return engine;
        }
        catch
        {
            // the engine owns the object once built: its Dispose stops the ring-buffer thread before closing it
            if (engine is not null)
                engine.Dispose();
            else
                obj.Dispose();
            throw;
        }
    }

    internal const string SysEnterProgram = "handle_sys_enter";

    /// <summary>What this kernel accepts, with its reasons for what it refuses.</summary>
    public KernelCapabilities Capabilities { get; }

    /// <summary>Decisions reported by the kernel programs (LOG, enforced and audited actions).</summary>
    public ChannelReader<SyscallEvent> Events => _events.Reader;

    /// <summary>The bound containers, including bindings adopted from pinned state and those the exec gate made meanwhile.</summary>
    public IReadOnlyList<BindingInfo> Bindings
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            lock (_gate)
            {
                AdoptGateBindings();
                return _bindings.Values.Select(b => new BindingInfo(b.CgroupId, b.Slot.Hash, b.Mode, b.Adopted, (b.Slot.Variant & ~ProfileImage.FloorBit) is 1 or 2, b.FromGate, b.Recording, b.Shadow?.Hash)).OrderBy(b => b.CgroupId).ToList();
            }
        }
    }

    // The exec gate (gate mode profile) writes bindings from the kernel while no daemon vouches, which may be while this
    // engine runs (the daemon was dropped by the runtime): they join the bookkeeping here, so Reconcile sees them.
    private void AdoptGateBindings()
    {
        if (_gateFallback is null)
            return;
        foreach (ulong cgroupId in _maps.Bindings.Keys<ulong>())
        {
            if (_bindings.ContainsKey(cgroupId) || !_maps.Bindings.TryLookup(cgroupId, out BindingValue value)
                || (value.Flags & BindingValue.FromGate) == 0 || !_slotsById.TryGetValue(value.Slot, out var slot))
                continue;
            slot.References++;
            _bindings[cgroupId] = new BindingRecord(cgroupId, slot, (EnforcementMode)value.Mode, value.Level, Adopted: true, FromGate: true, NeedsSysEnter: true);
            LevelAdded(value.Level);
            _logger.LogInformation("adopted the exec gate's binding of cgroup {CgroupId} to its fallback profile {Hash}", cgroupId, slot.Hash[..12]);
        }
    }

    /// <summary>
    /// Binds a profile to a cgroup (and its descendants); an existing binding is replaced atomically, as by Rebind.
    /// <paramref name="floor"/> is the container's own kernel seccomp filter: what it stops is exact with no BPF work,
    /// and a binding left with nothing to do keeps sys_enter detached.
    /// </summary>
    /// <exception cref="EnforcementRefusedException">Some action cannot be enforced here and OnUnenforceable is Refuse.</exception>
    public BindingReport Bind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null) => BindCore(cgroupId, profile, mode, floor);

    /// <summary>
    /// Plans <paramref name="profile"/> for <paramref name="mode"/> now, so that its first binding (a container's
    /// StartContainer) only writes maps. Planning is pure and cached per profile and mode; binding plans on a miss.
    /// </summary>
    public void Prepare(CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(profile);
        _ = PlanOf(profile, mode, floor);
    }

    /// <summary>Replaces a binding's profile or mode atomically: the new profile is built in fresh slots, switched with one map write, then the old slots are freed.</summary>
    public BindingReport Rebind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null) => BindCore(cgroupId, profile, mode, floor);

    /// <summary>Removes a binding; the last one that needs them detaches the kernel programs. Unknown ids are ignored.</summary>
    public void Unbind(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (!_bindings.Remove(cgroupId, out var binding))
            {
                // made by the exec gate since the last look: not in the bookkeeping, but bound all the same
                if (_maps.Bindings.TryLookup(cgroupId, out BindingValue value) && (value.Flags & BindingValue.FromGate) != 0)
                {
                    _maps.Bindings.Delete(cgroupId);
                    BindingsChanged();
                }
                return;
            }
            _maps.Bindings.Delete(cgroupId);
            BindingsChanged();
            _maps.LogRate.Delete(cgroupId);
            _maps.Recordings.Delete(cgroupId);
            _maps.RecordArgs.Delete(cgroupId);
            _maps.Shadows.Delete(cgroupId);
            LevelRemoved(binding.Level);
            Release(binding.Slot);
            if (binding.Shadow is not null)
                Release(binding.Shadow);
            DetachProgramsIfUnneeded();
            _logger.LogInformation("unbound cgroup {CgroupId}", cgroupId);
        }
        ReclaimIfMany();
    }

    private void ReclaimIfMany()
    {
        bool many;
        lock (_gate)
            many = _retired.Count >= ReclaimBatch;
        if (many)
            ReclaimRetired();
    }

    /// <summary>
    /// Some binding needs the enforcement programs: one whose plan leaves sys_enter work (bindings adopted from pinned
    /// state or made by the exec gate count as needing it: their floor is not known), or the armed exec gate fallback.
    /// </summary>
    // A recording and a shadow are kept by sys_enter too, even for a binding whose floor leaves the programs nothing to decide.
    private bool ProgramsNeeded => _gateFallback is not null || _bindings.Values.Any(b => b.NeedsSysEnter || b.Recording || b.Shadow is not null);

    /// <summary>Sets a flag on the cgroup's pinned binding <paramref name="value"/> (as just looked up), unless it is set; the state the flag points at must be written first.</summary>
    private void SetBindingFlag(ulong cgroupId, BindingValue value, byte flag)
    {
        if ((value.Flags & flag) == flag)
            return;
        value.Flags |= flag;
        _maps.Bindings.Update(cgroupId, value);
        BindingsChanged();
    }

    /// <summary>Clears one flag of the cgroup's pinned binding, if it has one; the state the flag points at goes after.</summary>
    private void ClearBindingFlag(ulong cgroupId, byte flag)
    {
        if (!_maps.Bindings.TryLookup(cgroupId, out BindingValue value))
            return;
        value.Flags = (byte)(value.Flags & ~flag);
        _maps.Bindings.Update(cgroupId, value);
        BindingsChanged();
    }

    /// <summary>Detaches the programs once nothing needs them, and drops the verdicts sys_enter left for hooks that are gone.</summary>
    private void DetachProgramsIfUnneeded()
    {
        if (ProgramsNeeded)
            return;
        DetachPrograms();
        ClearPendingVerdicts();
    }

    private BindingReport BindCore(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(profile);
        if (cgroupId == 0)
            throw new ArgumentException("cgroup id 0 is not a cgroup", nameof(cgroupId));
        var plan = PlanOf(profile, mode, floor);
        ThrowIfRefused(plan, $"profile {profile.Hash[..12]} cannot be enforced on cgroup {cgroupId}");
        int level = CgroupFs.LevelOf(cgroupId);
        if (level >= 64)
            throw new ArgumentException($"cgroup {cgroupId} is {level} levels deep; at most 63 are supported", nameof(cgroupId));
        var report = new BindingReport(cgroupId, profile.Hash, mode, plan.Report, plan.Exactness.Summary);

        lock (_gate)
        {
            var slot = Acquire(plan.Image);
            try
            {
                _bindings.TryGetValue(cgroupId, out var previous);
                bool recording = previous?.Recording == true; // a new profile does not end a recording
                bool recordArgs = recording && previous?.RecordArgs == true;
                var shadow = previous?.Shadow; // nor a shadow: it is compared with whatever is in force
                if (plan.NeedsSysEnter || recording || shadow is not null)
                    AttachPrograms();
                LevelAdded(level);
                byte flags = (byte)((recording ? BindingValue.Recording : 0) | (recordArgs ? BindingValue.RecordArgs : 0) | (shadow is not null ? BindingValue.Shadow : 0));
                // the one write that switches the container to the new profile
                _maps.Bindings.Update(cgroupId, new BindingValue { Slot = slot.Id, Mode = (byte)mode, Level = (ushort)level, Flags = flags });
                BindingsChanged();
                _bindings[cgroupId] = new BindingRecord(cgroupId, slot, mode, level, Adopted: false, FromGate: false, plan.NeedsSysEnter, recording, shadow, recordArgs);
                if (previous is not null)
                {
                    LevelRemoved(previous.Level);
                    Release(previous.Slot);
                }
                // the entry stays, so a later binding that attaches sys_enter finds this container decided alike
                DetachProgramsIfUnneeded();
            }
            catch
            {
                if (!_bindings.TryGetValue(cgroupId, out var current) || current.Slot != slot)
                    Release(slot);
                throw;
            }
        }
        _logger.LogInformation("bound cgroup {CgroupId} to profile {Hash} ({Mode}){Degraded}{Floor}", cgroupId, profile.Hash[..12], mode, report.IsDegraded ? ", degraded" : "",
            floor is null ? "" : $", kernel seccomp floor {floor.Profile.Hash[..12]} from {floor.Source}" + (plan.NeedsSysEnter ? "" : ": no sys_enter work"));
        ReclaimIfMany();
        return report;
    }

    /// <exception cref="EnforcementRefusedException">The plan refuses some action: the first five refusals, after <paramref name="what"/>.</exception>
    private void ThrowIfRefused(EnforcementPlanner.Plan plan, string what)
    {
        if (plan.Refusals.Count == 0)
            return;
        string message = $"{what} (OnUnenforceable={_options.OnUnenforceable}): "
                         + string.Join("; ", plan.Refusals.Take(5))
                         + (plan.Refusals.Count > 5 ? $"; and {plan.Refusals.Count - 5} more" : "");
        throw new EnforcementRefusedException(message, plan.Refusals);
    }

    // Plans depend only on the profile, the mode and this engine's fixed capabilities and policy: many containers share
    // a profile, so binding them (a restart's reconcile binds every running one) plans each profile once.
    // A floor (the container's kernel seccomp filter) is part of the key: containers of one pod security profile share it.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Hash, EnforcementMode Mode, string? Floor), (CompiledProfile Profile, EnforcementPlanner.Plan Plan)> _plans = new();

    private EnforcementPlanner.Plan PlanOf(CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor = null)
    {
        var key = (profile.Hash, mode, floor?.Profile.Hash);
        if (_plans.TryGetValue(key, out var cached) && ReferenceEquals(cached.Profile, profile))
            return cached.Plan;
        var plan = _planner.Build(profile, mode, floor);
        if (_plans.Count >= 256)
            _plans.Clear(); // profiles come and go with edits; a bound keeps stale versions from piling up
        _plans[key] = (profile, plan);
        return plan;
    }

    /// <summary>Sums the per-CPU counters.</summary>
    public EngineCounters ReadCounters()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int cpus = Interop.Interop.Libbpf.NumPossibleCpus();
        var totals = new ulong[CounterIndex.Count];
        for (uint i = 0; i < CounterIndex.Count; i++)
            foreach (ulong v in _maps.Counters.LookupPerCpu<uint, ulong>(i, cpus))
                totals[i] += v;
        var decisions = Enum.GetValues<SeccompAction>().ToDictionary(a => a, a => totals[CounterIndex.ActionBase + (int)a]);
        ulong managed = 0;
        foreach (ulong count in decisions.Values)
            managed += count; // every managed syscall gets exactly one decision: no second per-syscall counter
        return new EngineCounters(decisions, managed, totals[CounterIndex.Lookups], totals[CounterIndex.Events],
            totals[CounterIndex.RingBufferDrops], totals[CounterIndex.RateDrops], (ulong)Interlocked.Read(ref _eventReader.Dropped),
            totals[CounterIndex.LsmDenials], totals[CounterIndex.Signals], totals[CounterIndex.SignalFailures], totals[CounterIndex.Audited],
            totals[CounterIndex.NoSlot]);
    }

    /// <summary>Entry counts of the engine's maps (tests and diagnostics).</summary>
    internal IReadOnlyDictionary<string, int> MapEntryCounts()
    {
        ReclaimRetired();
        return MapEntryCountsNow();
    }

    internal IReadOnlyDictionary<string, int> MapEntryCountsNow() => new Dictionary<string, int>
    {
        ["bindings"] = _maps.Bindings.Count<ulong>(),
        ["slots"] = _maps.Slots.Count<uint>(),
        ["arch_policy"] = _maps.ArchPolicy.Count<ArchKey>(),
        ["syscall_policy"] = _maps.SyscallPolicy.Count<SyscallKey>(),
        ["rules"] = _maps.Rules.Count<RuleKey>(),
        ["log_rate"] = _maps.LogRate.Count<ulong>(),
        ["pending"] = _maps.Pending.Count<ulong>(),
        ["recordings"] = _maps.Recordings.Count<ulong>(),
        ["record_args"] = _maps.RecordArgs.Count<ulong>(),
        ["shadows"] = _maps.Shadows.Count<ulong>(),
    };

    /// <summary>Kernel memory per map as the kernel accounts it (fdinfo memlock; NO_PREALLOC hashes count their live elements).</summary>
    internal IReadOnlyDictionary<string, long> MapMemory()
    {
        ReclaimRetired();
        var result = new Dictionary<string, long>();
        foreach (var map in new[] { _maps.Bindings, _maps.Slots, _maps.ArchPolicy, _maps.SyscallPolicy, _maps.Rules, _maps.AllowBitmaps, _maps.BindingGeneration, _maps.Settings, _maps.LogRate, _maps.Pending, _maps.Counters, _maps.Events })
        {
            var line = File.ReadLines($"/proc/self/fdinfo/{map.Fd}").FirstOrDefault(l => l.StartsWith("memlock:", StringComparison.Ordinal));
            result[map.Name] = line is null ? -1 : long.Parse(line["memlock:".Length..].Trim());
        }
        return result;
    }

    internal bool SysEnterAttached => File.Exists(LinkPath(SysEnterProgram));

    private unsafe bool OnEventRecord(nint data, int size)
    {
        if (size < sizeof(ScEvent))
            return false;
        var raw = *(ScEvent*)data;
        var args = new ulong[6];
        for (int i = 0; i < 6; i++)
            args[i] = raw.Args[i];
        string comm = Marshal.PtrToStringUTF8((nint)raw.Comm) ?? "";
        var (source, ruleIndex) = raw.Rule switch
        {
            0xffff => (DecisionSource.Fallback, -1),
            0xfffe => (DecisionSource.DefaultAction, -1),
            0xfffd => (DecisionSource.Enosys, -1),
            0xfffc => (DecisionSource.BadArch, -1),
            0xfffb => (DecisionSource.NoSlot, -1),
            var index => (DecisionSource.Rule, (int)index),
        };
        var ev = new SyscallEvent(raw.TimestampNs, raw.CgroupId, raw.BoundCgroupId, (int)raw.Pid, (int)raw.Tid, comm, raw.AuditArch, raw.Nr,
            args, (SeccompAction)raw.Action, raw.Data, source, ruleIndex, (EnforcementMode)raw.Mode, (SyscallEventFlags)raw.Flags);
        return _events.Writer.TryWrite(ev);
    }

    /// <summary>Stops reading events. Enforcement stays in place unless DetachOnExit is set.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _reclaimTimer.Dispose();
        ReclaimRetired();
        _eventReader.Dispose();
        _events.Writer.TryComplete();
        if (_options.DetachOnExit)
        {
            lock (_gate)
            {
                DetachPrograms();
                Pins.RemoveAll(_options.PinRoot, _logger);
            }
        }
        lock (_gate)
        {
            _disposedObject = true;
            _object.Dispose();
        }
    }

    private sealed class SlotRecord(uint id, string key, string hash, uint variant)
    {
        internal uint Id { get; } = id;
        internal string Key { get; } = key;
        internal string Hash { get; } = hash;
        internal uint Variant { get; } = variant;
        internal int References { get; set; }
        internal long RetiredAt { get; set; }
        internal List<ArchKey> ArchKeys { get; } = [];
        internal List<SyscallKey> SyscallKeys { get; } = [];
        internal List<RuleKey> RuleKeys { get; } = [];
    }

    private sealed record BindingRecord(ulong CgroupId, SlotRecord Slot, EnforcementMode Mode, int Level, bool Adopted, bool FromGate, bool NeedsSysEnter, bool Recording = false, SlotRecord? Shadow = null, bool RecordArgs = false);

    private sealed class Maps(BpfObject obj)
    {
        internal BpfMap Bindings { get; } = obj.Map("bindings");
        internal BpfMap Slots { get; } = obj.Map("slots");
        internal BpfMap ArchPolicy { get; } = obj.Map("arch_policy");
        internal BpfMap SyscallPolicy { get; } = obj.Map("syscall_policy");
        internal BpfMap Rules { get; } = obj.Map("rules");
        internal BpfMap Settings { get; } = obj.Map("settings");
        internal BpfMap LogRate { get; } = obj.Map("log_rate");
        internal BpfMap Pending { get; } = obj.Map("pending");
        internal BpfMap Counters { get; } = obj.Map("counters");
        internal BpfMap Events { get; } = obj.Map("events");
        internal BpfMap AllowBitmaps { get; } = obj.Map("allow_bitmaps");
        internal BpfMap BindingGeneration { get; } = obj.Map("binding_generation");
        internal BpfMap GracePeriod { get; } = obj.Map("grace_period");
        internal BpfMap GateConfig { get; } = obj.Map("gate_config");
        internal BpfMap GateAdmitted { get; } = obj.Map("gate_admitted");
        internal BpfMap GateRecords { get; } = obj.Map("gate_records");
        internal BpfMap GateFallback { get; } = obj.Map("gate_fallback");
        internal BpfMap GraceInner { get; } = obj.Map("grace_inner");
        internal BpfMap Recordings { get; } = obj.Map("recordings");
        internal BpfMap RecordArgs { get; } = obj.Map("record_args");
        internal BpfMap Shadows { get; } = obj.Map("shadows");
    }
}
