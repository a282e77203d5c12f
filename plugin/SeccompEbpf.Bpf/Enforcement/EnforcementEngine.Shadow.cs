using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>What a cgroup's shadow profile would have done differently so far (docs/shadow.md).</summary>
/// <param name="CgroupId">The bound cgroup.</param>
/// <param name="ProfileHash">CompiledProfile.Hash of the shadow profile.</param>
/// <param name="Differences">Syscalls whose shadow verdict differed from the verdict in force, since this shadow was set.</param>
/// <param name="Denials">Of those, the ones the shadow would have stopped (ERRNO, KILL, TRAP, TRACE, NOTIFY).</param>
public sealed record ShadowCounts(ulong CgroupId, string ProfileHash, ulong Differences, ulong Denials);

public sealed partial class EnforcementEngine
{
    /// <summary>
    /// Evaluates <paramref name="profile"/> beside the bound profile of <paramref name="cgroupId"/> on every syscall of
    /// the container, without applying it: where its verdict differs from the one in force, the kernel counts it and
    /// emits an event flagged <see cref="SyscallEventFlags.Shadow"/>. The shadow is planned as Bind would enforce it
    /// (same OnUnenforceable policy, no floor), so its verdict is what promoting it would do on this kernel. A shadow
    /// already set is replaced with one map write; a different profile starts its counts from zero, the same profile
    /// keeps them. The shadow lasts until ClearShadow or Unbind, across rebinds and engine restarts.
    /// </summary>
    /// <returns>How the shadow's actions would be enforced if promoted.</returns>
    /// <exception cref="InvalidOperationException">The cgroup is not bound.</exception>
    /// <exception cref="EnforcementRefusedException">The shadow could not be enforced here and OnUnenforceable is Refuse: promoting it would fail.</exception>
    public BindingReport SetShadow(ulong cgroupId, CompiledProfile profile)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(profile);
        var plan = PlanOf(profile, EnforcementMode.Enforce);
        ThrowIfRefused(plan, $"shadow profile {profile.Hash[..12]} could not be enforced on cgroup {cgroupId}");
        var report = new BindingReport(cgroupId, profile.Hash, EnforcementMode.Enforce, plan.Report, plan.Exactness.Summary);
        lock (_gate)
        {
            AdoptGateBindings();
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !_maps.Bindings.TryLookup(cgroupId, out BindingValue value))
                throw new InvalidOperationException($"cgroup {cgroupId} is not bound: a shadow is evaluated beside a bound profile");
            var slot = Acquire(plan.Image);
            try
            {
                var next = new ShadowValue { Slot = slot.Id };
                if (binding.Shadow == slot && _maps.Shadows.TryLookup(cgroupId, out ShadowValue current))
                    next = current; // the same shadow again (a rebind, a restart): its counts go on
                AttachPrograms(); // a binding its kernel seccomp floor covers runs no program until something shadows it
                // the entry first, then the flag: a task never sees the flag without a shadow to evaluate
                _maps.Shadows.Update(cgroupId, next);
                SetBindingFlag(cgroupId, value, BindingValue.Shadow);
                _bindings[cgroupId] = binding with { Shadow = slot };
                if (binding.Shadow is not null)
                    Release(binding.Shadow);
            }
            catch
            {
                if (!_bindings.TryGetValue(cgroupId, out var now) || now.Shadow != slot)
                    Release(slot);
                throw;
            }
        }
        _logger.LogInformation("cgroup {CgroupId} shadowed by profile {Hash}{Degraded}", cgroupId, profile.Hash[..12], report.IsDegraded ? " (degraded as it would be enforced)" : "");
        ReclaimIfMany();
        return report;
    }

    /// <summary>Stops evaluating the cgroup's shadow; its counts are gone. Unknown or unshadowed cgroups are ignored.</summary>
    public void ClearShadow(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || binding.Shadow is null)
                return;
            // the flag first, then the entry: tasks stop looking before it goes (a lookup that misses is harmless too)
            ClearBindingFlag(cgroupId, BindingValue.Shadow);
            _bindings[cgroupId] = binding with { Shadow = null };
            _maps.Shadows.Delete(cgroupId);
            Release(binding.Shadow);
            DetachProgramsIfUnneeded();
        }
        _logger.LogInformation("cleared the shadow of cgroup {CgroupId}", cgroupId);
    }

    /// <summary>The shadow's counts now, or null when the cgroup has no shadow.</summary>
    public ShadowCounts? ReadShadow(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || binding.Shadow is null || !_maps.Shadows.TryLookup(cgroupId, out ShadowValue value))
                return null;
            return new ShadowCounts(cgroupId, binding.Shadow.Hash, value.Differences, value.Denials);
        }
    }
}
