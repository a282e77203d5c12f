using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

public sealed partial class EnforcementEngine
{
    /// <summary>The slot holding this image: shared when an equal one exists, else written into a fresh slot.</summary>
    private SlotRecord Acquire(ProfileImage image)
    {
        if (_slotsByKey.TryGetValue(image.SlotKey, out var shared))
        {
            // a retired slot is still intact until reclaimed: reviving it costs no map write
            _retired.Remove(shared);
            shared.References++;
            return shared;
        }
        uint id = _freeSlotIds.Count > 0 ? _freeSlotIds.Min : _nextSlotId++;
        _freeSlotIds.Remove(id);
        var slot = new SlotRecord(id, image.SlotKey, image.Hash, image.Variant) { References = 1 };
        try
        {
            // rules and syscalls first, the slot entry last: nothing points at the slot until the binding switches
            for (int i = 0; i < image.Rules.Count; i++)
            {
                var key = new RuleKey(id, (uint)i);
                _maps.Rules.Update(key, image.Rules[i]);
                slot.RuleKeys.Add(key);
            }
            foreach (var (arch, nr, value) in image.Syscalls)
            {
                var key = new SyscallKey(id, arch, nr);
                _maps.SyscallPolicy.Update(key, value);
                slot.SyscallKeys.Add(key);
            }
            foreach (var (arch, value) in image.Arches)
            {
                var key = new ArchKey(id, arch);
                _maps.ArchPolicy.Update(key, value);
                slot.ArchKeys.Add(key);
            }
            WriteAllowBitmaps(id, image);
            var slotValue = new SlotValue
            {
                BadArchAction = image.BadArchAction,
                SyscallEntries = (uint)slot.SyscallKeys.Count,
                RuleEntries = (uint)slot.RuleKeys.Count,
                ArchEntries = (uint)slot.ArchKeys.Count,
                Variant = image.Variant,
            };
            unsafe
            {
                for (int i = 0; i < 64; i++)
                    slotValue.Hash[i] = (byte)image.Hash[i];
            }
            _maps.Slots.Update(id, slotValue);
        }
        catch
        {
            Free(slot);
            throw;
        }
        _slotsByKey[slot.Key] = slot;
        _slotsById[id] = slot;
        return slot;
    }

    /// <summary>
    /// Drops a reference. An unused slot is retired, not freed: a program that read the binding just before
    /// the switch may still be evaluating it. It is freed after a kernel RCU grace period (ReclaimRetired).
    /// </summary>
    private void Release(SlotRecord slot)
    {
        if (--slot.References > 0)
            return;
        slot.RetiredAt = ++_retireEpoch;
        _retired.Add(slot);
    }

    /// <summary>Frees retired slots once no program can still be using them; cheap when there are none.</summary>
    internal void ReclaimRetired()
    {
        long epoch;
        lock (_gate)
        {
            if (_retired.Count == 0 || _disposedObject)
                return;
            epoch = _retireEpoch;
        }
        WaitForRunningPrograms();
        lock (_gate)
        {
            if (_disposedObject)
                return;
            foreach (var slot in _retired.Where(s => s.RetiredAt <= epoch).ToList())
            {
                _retired.Remove(slot);
                _slotsByKey.Remove(slot.Key);
                _slotsById.Remove(slot.Id);
                Free(slot);
            }
        }
    }

    /// <summary>Returns after every BPF program that was running has finished (the kernel's synchronize_rcu).</summary>
    private void WaitForRunningPrograms()
        => _maps.GracePeriod.Update(0u, _maps.GraceInner.Fd);

    /// <summary>
    /// The slot's allow bitmaps (x86_64 and i386), written with the rest of the slot, before any binding points at
    /// it. Always both: a reused slot id must not keep the bits of its previous profile.
    /// </summary>
    private void WriteAllowBitmaps(uint slotId, ProfileImage image)
    {
        if (slotId > AllowBitmap.MaxSlotId)
            return; // beyond the array: evaluate() decides every syscall of this slot
        _maps.AllowBitmaps.Update(AllowBitmap.KeyOf(slotId, i386: false), AllowBitmapOf(image, SyscallTable.AuditArchX86_64));
        _maps.AllowBitmaps.Update(AllowBitmap.KeyOf(slotId, i386: true), AllowBitmapOf(image, SyscallTable.AuditArchI386));
    }

    private void ClearAllowBitmaps(uint slotId)
    {
        if (slotId > AllowBitmap.MaxSlotId)
            return;
        _maps.AllowBitmaps.Update(AllowBitmap.KeyOf(slotId, i386: false), default(AllowBitmap));
        _maps.AllowBitmaps.Update(AllowBitmap.KeyOf(slotId, i386: true), default(AllowBitmap));
    }

    /// <summary>
    /// Which syscalls below 512 evaluate() answers ALLOW for whatever the arguments, read off the entries it reads:
    /// no arch entry (bad arch) allows nothing; a syscall entry allows when its fallback and every rule allow (then
    /// no rule needs walking); otherwise the ENOSYS stub or the default action decides.
    /// </summary>
    internal static AllowBitmap AllowBitmapOf(ProfileImage image, uint auditArch)
    {
        var bitmap = default(AllowBitmap);
        var arch = image.Arches.Where(a => a.AuditArch == auditArch).Select(a => (ArchValue?)a.Value).FirstOrDefault();
        if (arch is not { } archValue)
            return bitmap;
        var syscalls = new Dictionary<uint, SyscallValue>();
        foreach (var (syscallArch, nr, value) in image.Syscalls)
            if (syscallArch == auditArch)
                syscalls[nr] = value;
        for (uint nr = 0; nr < AllowBitmap.Syscalls; nr++)
        {
            bool allowed = syscalls.TryGetValue(nr, out var syscall)
                ? syscall.Fallback.Kind == (byte)SeccompAction.Allow
                  && Enumerable.Range((int)syscall.FirstRule, (int)syscall.RuleCount).All(i => image.Rules[i].Action.Kind == (byte)SeccompAction.Allow)
                : nr >= archValue.EnosysFromNr
                    ? archValue.EnosysAction.Kind == (byte)SeccompAction.Allow
                    : archValue.DefaultAction.Kind == (byte)SeccompAction.Allow;
            if (allowed)
                bitmap.Set(nr);
        }
        return bitmap;
    }

    /// <summary>
    /// Called after every write to `bindings`, never before (bindings_changed() in bpf/lib/binding.h is the BPF
    /// side's twin): tasks' cached answers carry the generation they were computed for, so they are recomputed at
    /// each task's next syscall. The engine is the only writer of its entry, so read-and-write is safe under _gate.
    /// </summary>
    private void BindingsChanged()
    {
        _maps.BindingGeneration.TryLookup(BindingGeneration.Engine, out ulong generation);
        _maps.BindingGeneration.Update(BindingGeneration.Engine, generation + 1);
    }

    private void Free(SlotRecord slot)
    {
        _maps.Slots.Delete(slot.Id);
        ClearAllowBitmaps(slot.Id);
        foreach (var key in slot.ArchKeys)
            _maps.ArchPolicy.Delete(key);
        foreach (var key in slot.SyscallKeys)
            _maps.SyscallPolicy.Delete(key);
        foreach (var key in slot.RuleKeys)
            _maps.Rules.Delete(key);
        slot.ArchKeys.Clear();
        slot.SyscallKeys.Clear();
        slot.RuleKeys.Clear();
        if (slot.Id == _nextSlotId - 1)
            _nextSlotId--;
        else
            _freeSlotIds.Add(slot.Id);
    }

    private void LevelAdded(int level)
    {
        _bindingsPerLevel[level] = _bindingsPerLevel.GetValueOrDefault(level) + 1;
        if (_bindingsPerLevel[level] == 1)
            WriteSettings();
    }

    private void LevelRemoved(int level)
    {
        if (--_bindingsPerLevel[level] == 0)
        {
            _bindingsPerLevel.Remove(level);
            WriteSettings();
        }
    }

    private void WriteSettings()
    {
        ulong levels = 0;
        foreach (int level in _bindingsPerLevel.Keys)
            levels |= 1UL << level;
        bool lsmAttached = _enforcementPrograms.Any(p => (p.StartsWith(LsmHookTable.LsmPrefix, StringComparison.Ordinal)
            || p.StartsWith(LsmHookTable.FmodRetPrefix, StringComparison.Ordinal)) && File.Exists(LinkPath(p)));
        _maps.Settings.Update(0u, new SettingsValue
        {
            BindingLevels = levels,
            EventsPerSecond = (uint)_options.LogEventsPerSecondPerContainer,
            Flags = lsmAttached ? SettingsValue.LsmPrevention : 0,
        });
    }

    private string LinkPath(string program) => Path.Combine(_options.PinRoot, "links", program);

    /// <summary>Attaches (and pins) the enforcement programs not attached yet: they cost every task on the node, so only while some binding exists.</summary>
    private void AttachPrograms()
    {
        bool changed = false;
        // LSM hooks first: sys_enter hands verdicts to them only once they are in place
        foreach (var program in _enforcementPrograms.OrderBy(p => p == SysEnterProgram))
        {
            string path = LinkPath(program);
            if (File.Exists(path))
                continue;
            using var link = _object.Attach(program);
            Errors.Check(Interop.Interop.Libbpf.LinkPin(link.DangerousGetHandle(), path), $"bpf_link__pin({program}, {path})");
            changed = true;
            _logger.LogDebug("attached {Program}", program);
        }
        if (changed)
            WriteSettings();
    }

    private void DetachPrograms()
    {
        // sys_enter first: no verdict is handed to hooks that are going away
        foreach (var program in _enforcementPrograms.OrderBy(p => p != SysEnterProgram))
        {
            string path = LinkPath(program);
            if (File.Exists(path))
            {
                // the pin holds the last reference: unlinking it detaches the program
                File.Delete(path);
                _logger.LogDebug("detached {Program}", program);
            }
        }
        foreach (var stale in Directory.EnumerateFiles(Path.Combine(_options.PinRoot, "links")))
            File.Delete(stale); // links of programs this engine version no longer has
        WriteSettings();
    }

    private void ClearPendingVerdicts()
    {
        foreach (var key in _maps.Pending.Keys<ulong>())
            _maps.Pending.Delete(key);
    }

    /// <summary>Rebuilds slot and binding bookkeeping from the pinned maps, so a restarted engine carries on where the last one stopped.</summary>
    private void AdoptPinnedState(bool mapsWereAdopted)
    {
        lock (_gate)
        {
            if (mapsWereAdopted)
            {
                foreach (uint id in _maps.Slots.Keys<uint>())
                {
                    if (!_maps.Slots.TryLookup(id, out SlotValue value))
                        continue;
                    string hash;
                    unsafe
                    {
                        hash = new string((sbyte*)value.Hash, 0, 64);
                    }
                    // a floor's slot serves only containers with that floor, which the slot does not record: never shared again
                    string key = (value.Variant & ProfileImage.FloorBit) != 0 ? $"{hash}/{value.Variant}/adopted-{id}" : $"{hash}/{value.Variant}";
                    var slot = new SlotRecord(id, key, hash, value.Variant);
                    _slotsByKey[slot.Key] = slot;
                    _slotsById[id] = slot;
                }
                foreach (var key in _maps.ArchPolicy.Keys<ArchKey>())
                    Owner(key.Slot)?.ArchKeys.Add(key);
                foreach (var key in _maps.SyscallPolicy.Keys<SyscallKey>())
                    Owner(key.Slot)?.SyscallKeys.Add(key);
                foreach (var key in _maps.Rules.Keys<RuleKey>())
                    Owner(key.Slot)?.RuleKeys.Add(key);
                foreach (ulong cgroupId in _maps.Bindings.Keys<ulong>())
                {
                    if (!_maps.Bindings.TryLookup(cgroupId, out BindingValue value))
                        continue;
                    if (!_slotsById.TryGetValue(value.Slot, out var slot))
                    {
                        _logger.LogWarning("pinned binding of cgroup {CgroupId} points at missing slot {Slot}; removing it", cgroupId, value.Slot);
                        _maps.Bindings.Delete(cgroupId);
                        BindingsChanged();
                        continue;
                    }
                    slot.References++;
                    // a shadow whose slot is gone is dropped (the flag with it): the container's enforcement is untouched
                    SlotRecord? shadow = null;
                    if ((value.Flags & BindingValue.Shadow) != 0)
                    {
                        if (_maps.Shadows.TryLookup(cgroupId, out ShadowValue shadowValue) && _slotsById.TryGetValue(shadowValue.Slot, out shadow))
                            shadow.References++;
                        else
                        {
                            _logger.LogWarning("pinned shadow of cgroup {CgroupId} points at a missing slot; dropping the shadow", cgroupId);
                            value.Flags = (byte)(value.Flags & ~BindingValue.Shadow);
                            _maps.Bindings.Update(cgroupId, value);
                            BindingsChanged();
                            _maps.Shadows.Delete(cgroupId);
                        }
                    }
                    _bindings[cgroupId] = new BindingRecord(cgroupId, slot, (EnforcementMode)value.Mode, value.Level, Adopted: true,
                        FromGate: (value.Flags & BindingValue.FromGate) != 0, NeedsSysEnter: true,
                        Recording: (value.Flags & BindingValue.Recording) != 0, Shadow: shadow,
                        RecordArgs: (value.Flags & BindingValue.RecordArgs) != 0);
                    _bindingsPerLevel[value.Level] = _bindingsPerLevel.GetValueOrDefault(value.Level) + 1;
                }
                // the exec gate's armed fallback is a reference too, kept until the daemon configures the gate again
                if (_maps.GateFallback.TryLookup(0u, out GateFallbackValue fallback) && fallback.Slot != 0)
                {
                    if (_slotsById.TryGetValue(fallback.Slot, out var slot))
                    {
                        slot.References++;
                        _gateFallback = slot;
                    }
                    else
                    {
                        _logger.LogWarning("the exec gate's fallback points at missing slot {Slot}; disarming it", fallback.Slot);
                        _maps.GateFallback.Update(0u, default(GateFallbackValue));
                    }
                }
                // orphans: slots no binding uses (retired by the last engine, or written just before a crash)
                foreach (var orphan in _slotsById.Values.Where(s => s.References == 0).ToList())
                {
                    orphan.RetiredAt = ++_retireEpoch;
                    _retired.Add(orphan);
                }
                uint max = _slotsById.Count == 0 ? 0 : _slotsById.Keys.Max();
                _nextSlotId = max + 1;
                for (uint id = 1; id < _nextSlotId; id++)
                    if (!_slotsById.ContainsKey(id))
                        _freeSlotIds.Add(id);
                _logger.LogInformation("adopted {Bindings} bindings and {Slots} profile slots from {PinRoot}", _bindings.Count, _slotsById.Count, _options.PinRoot);
            }

            if (ProgramsNeeded)
                AttachPrograms();
            else
                DetachPrograms();
            WriteSettings();
        }

        SlotRecord? Owner(uint slotId)
        {
            if (_slotsById.TryGetValue(slotId, out var slot))
                return slot;
            return null;
        }
    }
}
