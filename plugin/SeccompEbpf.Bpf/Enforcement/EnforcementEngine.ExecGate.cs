using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>What the exec gate does to an exec in a container cgroup the daemon has not admitted, while no daemon vouches.</summary>
public enum ExecGateMode
{
    /// <summary>Nothing: containers created while no daemon runs start unprotected and unrecorded.</summary>
    Off = 0,

    /// <summary>The exec proceeds and is recorded per cgroup; the next daemon reports it.</summary>
    Log = 1,

    /// <summary>The task is killed before the new image runs (recorded too): such a container cannot run its entrypoint.</summary>
    DenyExec = 2,

    /// <summary>
    /// The kernel binds the container's cgroup to a fallback profile before the new image runs (recorded too); the next
    /// daemon replaces that binding with the container's own policy. The enforcement programs stay attached meanwhile.
    /// </summary>
    Profile = 3,
}

/// <summary>What the exec gate saw in one cgroup while no daemon vouched for the node (and whether it bound the cgroup to the fallback profile).</summary>
public sealed record ExecGateRecord(ulong CgroupId, ulong Execs, ulong Denied, TimeSpan FirstSinceBoot, TimeSpan LastSinceBoot, int LastPid, string LastComm,
    bool BoundToFallback = false);

// The fail-closed exec gate (bpf/lib/gate.h): its program, link and maps are pinned like the rest, so it acts while no
// daemon runs. Its link lives under <pin root>/gate, apart from links/, which follows the bindings.
public sealed partial class EnforcementEngine
{
    internal const string GateProgram = "handle_exec_gate";
    private readonly Lock _execGate = new();

    private string GateLinkPath => Path.Combine(_options.PinRoot, "gate", GateProgram);

    /// <summary>
    /// Sets the gate's mode and the runtime's container cgroup parents (cgroup ids; at most four). Attaches the pinned
    /// exec program unless the mode is <see cref="ExecGateMode.Off"/>, which detaches it. The vouch is kept.
    /// </summary>
    /// <param name="mode">What to do with an unadmitted container's exec.</param>
    /// <param name="containerParents">Cgroup ids of the runtime's container cgroup parents.</param>
    /// <param name="fallback">The profile the kernel binds unadmitted containers to; required by, and only used with, <see cref="ExecGateMode.Profile"/>.</param>
    /// <returns>What the kernel does with the fallback profile (null unless the mode is profile).</returns>
    /// <exception cref="EnforcementRefusedException">The fallback cannot be enforced here and OnUnenforceable is Refuse.</exception>
    public BindingReport? ConfigureExecGate(ExecGateMode mode, IReadOnlyCollection<ulong> containerParents, CompiledProfile? fallback = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (containerParents.Count > GateConfig.MaxParents)
            throw new ArgumentException($"at most {GateConfig.MaxParents} container cgroup parents are supported, got {containerParents.Count}", nameof(containerParents));
        if ((mode == ExecGateMode.Profile) != (fallback is not null))
            throw new ArgumentException(mode == ExecGateMode.Profile ? "gate mode profile needs a fallback profile" : $"a fallback profile is only used by gate mode profile, not {mode}", nameof(fallback));
        BindingReport? report = null;
        lock (_execGate)
        {
            var config = ReadGateConfig();
            // Armed before the mode says profile, disarmed after it stops saying so: the kernel never binds to slot 0.
            if (fallback is not null)
                report = ArmGateFallback(fallback);
            config.Mode = (uint)mode;
            config.Parents = (uint)containerParents.Count;
            int i = 0;
            foreach (var parent in containerParents)
                config.Parent[i++] = new GateParent { Id = parent, Level = (uint)CgroupFs.LevelOf(parent) };
            for (; i < GateConfig.MaxParents; i++)
                config.Parent[i] = default;
            _maps.GateConfig.Update(0u, config);
            if (fallback is null)
                DisarmGateFallback();

            string link = GateLinkPath;
            if (mode == ExecGateMode.Off)
            {
                if (File.Exists(link))
                    File.Delete(link); // the pin held the last reference: this detaches the program
            }
            else if (!File.Exists(link))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(link)!);
                using var attached = _object.Attach(GateProgram);
                Errors.Check(Interop.Interop.Libbpf.LinkPin(attached.DangerousGetHandle(), link), $"bpf_link__pin({GateProgram}, {link})");
            }
        }
        _logger.LogInformation("exec gate {Mode} for container cgroups below {Parents}", mode, string.Join(", ", containerParents));
        return report;
    }

    // The fallback lives in a slot of its own, referenced by the gate as a binding references its slot, so it is never
    // reclaimed while armed; the enforcement programs stay attached so a binding the gate makes acts at once.
    private BindingReport ArmGateFallback(CompiledProfile fallback)
    {
        var plan = PlanOf(fallback, EnforcementMode.Enforce);
        ThrowIfRefused(plan, $"the gate's fallback profile {fallback.Hash[..12]} cannot be enforced");
        lock (_gate)
        {
            var slot = Acquire(plan.Image);
            try
            {
                AttachPrograms();
                _maps.GateFallback.Update(0u, new GateFallbackValue { Slot = slot.Id });
            }
            catch
            {
                Release(slot);
                throw;
            }
            if (_gateFallback is { } previous)
                Release(previous);
            _gateFallback = slot;
        }
        return new BindingReport(0, fallback.Hash, EnforcementMode.Enforce, plan.Report, plan.Exactness.Summary);
    }

    private void DisarmGateFallback()
    {
        lock (_gate)
        {
            if (_gateFallback is not { } slot)
                return;
            _maps.GateFallback.Update(0u, default(GateFallbackValue));
            _gateFallback = null;
            Release(slot);
            DetachProgramsIfUnneeded();
        }
        ReclaimIfMany();
    }

    /// <summary>
    /// The daemon follows the runtime: for <paramref name="validity"/> from now the gate lets every exec pass (NRI admits
    /// containers). Renew well before it runs out; a daemon that stops renewing (crash, hang, dropped) leaves the gate shut.
    /// </summary>
    public void VouchExecGate(TimeSpan validity)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_execGate)
        {
            var config = ReadGateConfig();
            config.VouchedUntilNs = validity <= TimeSpan.Zero ? 0 : MonotonicNanoseconds() + (ulong)validity.Ticks * 100;
            _maps.GateConfig.Update(0u, config);
        }
    }

    /// <summary>Marks a container's (or sandbox's) cgroup as seen through NRI: the gate never acts on its execs.</summary>
    public void AdmitToExecGate(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (cgroupId != 0)
            _maps.GateAdmitted.Update(cgroupId, (byte)1);
    }

    /// <summary>Forgets an admitted cgroup (its container is gone).</summary>
    public void ForgetInExecGate(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _maps.GateAdmitted.Delete(cgroupId);
    }

    /// <summary>The admitted cgroups, for reconciling against the runtime's containers.</summary>
    public IReadOnlyList<ulong> ExecGateAdmitted()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _maps.GateAdmitted.Keys<ulong>();
    }

    /// <summary>Returns what the gate recorded while no daemon vouched, and clears it.</summary>
    public unsafe IReadOnlyList<ExecGateRecord> DrainExecGateRecords()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var drained = new List<ExecGateRecord>();
        foreach (ulong cgroup in _maps.GateRecords.Keys<ulong>())
        {
            if (!_maps.GateRecords.TryLookup(cgroup, out GateRecordValue value))
                continue;
            _maps.GateRecords.Delete(cgroup);
            var comm = new ReadOnlySpan<byte>(value.Comm, 16);
            int end = comm.IndexOf((byte)0);
            drained.Add(new ExecGateRecord(cgroup, value.Execs, value.Denied,
                TimeSpan.FromTicks((long)(value.FirstNs / 100)), TimeSpan.FromTicks((long)(value.LastNs / 100)),
                (int)value.LastPid, Encoding.UTF8.GetString(end < 0 ? comm : comm[..end]), (value.Flags & GateRecordValue.Bound) != 0));
        }
        return drained;
    }

    private GateConfig ReadGateConfig() => _maps.GateConfig.TryLookup(0u, out GateConfig config) ? config : default;

    /// <summary>CLOCK_MONOTONIC in nanoseconds, the clock of bpf_ktime_get_ns.</summary>
    private static ulong MonotonicNanoseconds()
    {
        // .NET's Stopwatch reads CLOCK_MONOTONIC on Linux, at nanosecond frequency.
        Debug.Assert(Stopwatch.Frequency == 1_000_000_000);
        return (ulong)Stopwatch.GetTimestamp();
    }
}
