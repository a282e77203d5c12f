using System.Text.Json.Serialization;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>A kernel mechanism the engine may use, learned by loading and attaching a probe program or creating a map.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KernelMechanism>))]
public enum KernelMechanism
{
    /// <summary>raw_tp/sys_enter: the decision point for every syscall.</summary>
    RawTracepoint,
    /// <summary>tp_btf/sys_enter.</summary>
    BtfTracepoint,
    /// <summary>lsm/*: returns -errno from security hooks a syscall passes through.</summary>
    BpfLsm,
    /// <summary>lsm_cgroup/*: LSM programs charged only to one cgroup's tasks (Linux 6.0+).</summary>
    LsmCgroup,
    /// <summary>fmod_ret on syscall entry functions (kernels with error injection).</summary>
    FmodRet,
    /// <summary>
    /// fmod_ret on security_* functions (the callers of the LSM hooks): the verifier allows it with or without error
    /// injection, and it runs where bpf is not an active LSM. The fallback for <see cref="BpfLsm"/>.
    /// </summary>
    FmodRetSecurity,
    /// <summary>kprobe + bpf_override_return.</summary>
    KprobeOverride,
    /// <summary>bpf_send_signal from sys_enter.</summary>
    SendSignal,
    /// <summary>bpf_get_current_ancestor_cgroup_id from sys_enter.</summary>
    AncestorCgroupId,
    /// <summary>BPF_MAP_TYPE_RINGBUF.</summary>
    RingBuffer,
    /// <summary>BPF_MAP_TYPE_TASK_STORAGE.</summary>
    TaskStorage,
    /// <summary>BPF_MAP_TYPE_CGRP_STORAGE.</summary>
    CgroupStorage,
}

/// <summary>What one probe found: available, or the kernel's reason (errno and a short text) for refusing.</summary>
public sealed record MechanismProbe(KernelMechanism Mechanism, bool Available, int Errno, string Detail)
{
    /// <summary>Errno as a name, e.g. EPERM; empty when available.</summary>
    public string ErrnoName => Available ? "" : Interop.Errors.Name(Errno);
}

/// <summary>The mechanisms this kernel accepts, each with the reason when it does not.</summary>
public sealed class KernelCapabilities(string kernelRelease, string activeLsms, IReadOnlyList<MechanismProbe> probes,
    IReadOnlySet<string>? missingLsmHooks = null, IReadOnlySet<string>? absentSyscalls = null)
{
    /// <summary>uname -r.</summary>
    public string KernelRelease { get; } = kernelRelease;

    /// <summary>/sys/kernel/security/lsm, or a note why it could not be read.</summary>
    public string ActiveLsms { get; } = activeLsms;

    /// <summary>One entry per mechanism, in enum order.</summary>
    public IReadOnlyList<MechanismProbe> Probes { get; } = probes;

    /// <summary>Whether the mechanism loaded and attached.</summary>
    public bool Has(KernelMechanism mechanism) => this[mechanism].Available;

    /// <summary>The probe result of one mechanism.</summary>
    public MechanismProbe this[KernelMechanism mechanism]
        => Probes.FirstOrDefault(p => p.Mechanism == mechanism) ?? new MechanismProbe(mechanism, false, 95, "not probed");

    /// <summary>
    /// Hooks of the LSM hook table whose attach point this kernel's BTF lacks (read at probe time): bpf_lsm_&lt;hook&gt;
    /// for BPF LSM, the hook's security_* function for the fmod_ret fallback. Their programs are not loaded and the
    /// syscalls that need them are not claimed. Empty when all are present or the BTF was not read.
    /// </summary>
    public IReadOnlySet<string> MissingLsmHooks { get; } = missingLsmHooks ?? new HashSet<string>();

    /// <summary>
    /// Syscalls of the LSM hook table newer than Linux 6.1 that this kernel does not have (its BTF defines no function
    /// for them): they fail with ENOSYS before any hook, so none is claimed as stopped at one. Empty when all are
    /// present or the BTF was not read.
    /// </summary>
    public IReadOnlySet<string> AbsentSyscalls { get; } = absentSyscalls ?? new HashSet<string>();

    /// <summary>
    /// Some mechanism can stop a syscall at the LSM hook it passes through, before its side effects: BPF LSM, or where
    /// bpf is not an active LSM, fmod_ret on the hook's security_* function (kprobe override is probed but not used).
    /// </summary>
    public bool CanPreventSyscalls => Has(KernelMechanism.BpfLsm) || Has(KernelMechanism.FmodRetSecurity);

    /// <summary>The hooks are reached through fmod_ret on security_* functions: BPF LSM does not work, the fallback does.</summary>
    public bool PreventsThroughFmodRet => !Has(KernelMechanism.BpfLsm) && Has(KernelMechanism.FmodRetSecurity);
}
