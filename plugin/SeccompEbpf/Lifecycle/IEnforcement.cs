using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Lifecycle;

/// <summary>
/// What the lifecycle logic (<see cref="PolicyController"/>) needs of the enforcement engine, and nothing more: the
/// engine needs root and BPF, so the lifecycle logic is unit-tested against a fake of this seam instead.
/// </summary>
/// <remarks>
/// Declared here, internal to the daemon, and implemented by an adapter (<c>EngineHost</c>) rather than by
/// <see cref="EnforcementEngine"/> itself: the engine would need an InternalsVisibleTo that opens all of
/// SeccompEbpf.Bpf's internals (maps, slots) to the daemon, or a public interface nobody outside the daemon uses.
/// The exec gate, the event stream and the counters stay on the concrete engine: no test double needs them.
/// </remarks>
internal interface IEnforcement
{
    /// <summary>The bound cgroups, including bindings adopted from pinned state after a restart.</summary>
    IReadOnlyList<BindingInfo> Bindings { get; }

    /// <summary>Binds <paramref name="profile"/> to a cgroup; an existing binding is replaced atomically. <paramref name="floor"/>: the container's kernel seccomp filter, or null.</summary>
    /// <exception cref="EnforcementRefusedException">The profile cannot be enforced here and the configuration says refuse.</exception>
    BindingReport Bind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor);

    /// <summary>Replaces the profile or mode of a bound cgroup without a gap.</summary>
    BindingReport Rebind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor);

    /// <summary>Removes a binding; unknown ids are ignored.</summary>
    void Unbind(ulong cgroupId);

    /// <summary>Starts recording a bound cgroup's syscalls from an empty set (docs/recording.md).</summary>
    /// <exception cref="InvalidOperationException">The cgroup is not bound.</exception>
    void StartRecording(ulong cgroupId);

    /// <summary>Records the values of a few syscalls' arguments on a recording cgroup from now on (empty: stops that).</summary>
    /// <exception cref="ArgumentException">Invalid arguments (ArgumentToRecord.Problem).</exception>
    /// <exception cref="InvalidOperationException">The cgroup does not record.</exception>
    void RecordArguments(ulong cgroupId, IReadOnlyList<ArgumentToRecord> arguments);

    /// <summary>Stops recording; the recorded set is dropped.</summary>
    void StopRecording(ulong cgroupId);

    /// <summary>The syscalls recorded so far, or null when the cgroup is not recording.</summary>
    SyscallRecording? ReadRecording(ulong cgroupId);

    /// <summary>Evaluates <paramref name="profile"/> beside the bound one without applying it (docs/shadow.md); replaces a shadow already set.</summary>
    /// <exception cref="InvalidOperationException">The cgroup is not bound.</exception>
    /// <exception cref="EnforcementRefusedException">The shadow could not be enforced here (so could not be promoted) and the configuration says refuse.</exception>
    BindingReport SetShadow(ulong cgroupId, CompiledProfile profile);

    /// <summary>Stops evaluating the cgroup's shadow; unknown or unshadowed cgroups are ignored.</summary>
    void ClearShadow(ulong cgroupId);

    /// <summary>What the shadow would have done differently so far, or null when the cgroup has none.</summary>
    ShadowCounts? ReadShadow(ulong cgroupId);
}
