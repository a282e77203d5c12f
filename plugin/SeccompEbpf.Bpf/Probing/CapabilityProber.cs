using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>Loads and attaches one tiny program per mechanism (bpf/lib/probes.h) and keeps the kernel's answer.</summary>
public static partial class CapabilityProber
{
    private static readonly string[] ShrinkToOne = ["bindings", "slots", "arch_policy", "syscall_policy", "rules", "allow_bitmaps", "log_rate", "pending", "gate_admitted", "gate_records", "recordings"];

    /// <summary>Probes the running kernel; needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN).</summary>
    public static KernelCapabilities Probe(ILoggerFactory loggers)
    {
        LibbpfLog.Install(loggers);
        return Probe(BpfObject.EmbeddedImage(), loggers.CreateLogger(typeof(CapabilityProber)));
    }

    internal static KernelCapabilities Probe(byte[] image, ILogger logger)
    {
        // Each probe is its own BPF object, and libbpf parses the kernel's whole BTF for every object it loads (about a
        // hundred milliseconds each): the program probes run side by side so start-up pays that once per core, not
        // once per probe. They share nothing: every object has its own maps and filters on this process.
        Func<IEnumerable<MechanismProbe>>[] programProbes =
        [
            () => [ProbeProgram(image, KernelMechanism.RawTracepoint, "probe_raw_tp")],
            () => [ProbeProgram(image, KernelMechanism.BtfTracepoint, "probe_tp_btf")],
            () => [ProbeProgram(image, KernelMechanism.BpfLsm, "probe_lsm")],
            () => [ProbeProgram(image, KernelMechanism.LsmCgroup, "probe_lsm_cgroup")],
            () => [ProbeProgram(image, KernelMechanism.FmodRet, "probe_fmod_ret")],
            () => [ProbeProgram(image, KernelMechanism.FmodRetSecurity, "probe_fmod_ret_security")],
            () => [ProbeProgram(image, KernelMechanism.KprobeOverride, "probe_kprobe_override")],
            () => ProbeSignalAndAncestor(image).ToList(),
        ];
        var found = new IEnumerable<MechanismProbe>[programProbes.Length];
        Parallel.For(0, programProbes.Length, i => found[i] = programProbes[i]());
        var probes = found.SelectMany(p => p).ToList();
        probes.Add(ProbeMap(KernelMechanism.RingBuffer, 27));
        probes.Add(ProbeMap(KernelMechanism.TaskStorage, 29));
        probes.Add(ProbeMap(KernelMechanism.CgroupStorage, 32));
        foreach (var probe in probes)
            logger.LogInformation("probe {Mechanism}: {Result}", probe.Mechanism, probe.Available ? "available" : $"unavailable ({probe.ErrnoName}: {probe.Detail})");
        return WithHookCheck(new KernelCapabilities(ReadText("/proc/sys/kernel/osrelease"), ActiveLsms(), probes), logger);
    }

    private static BpfObject OpenForProbe(byte[] image, string program)
    {
        var obj = BpfObject.Open(image, "sc_probe");
        foreach (var name in obj.ProgramNames)
            obj.SetAutoload(name, name == program);
        foreach (var map in ShrinkToOne)
            obj.SetMaxEntries(map, 1);
        obj.SetMaxEntries("events", 4096);
        obj.SetReadOnlyUInt32(0, (uint)Environment.ProcessId); // probe_target_tgid
        return obj;
    }

    private static MechanismProbe ProbeProgram(byte[] image, KernelMechanism mechanism, string program)
    {
        using var obj = OpenForProbe(image, program);
        string section = obj.SectionOf(program);
        try
        {
            obj.Load();
        }
        catch (BpfException e)
        {
            return Refused(mechanism, e, $"load of {section} refused");
        }
        // an attached LSM program may never run (bpf not an active LSM), and the fallback is only worth its name if it does
        bool byEffect = mechanism is KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup or KernelMechanism.FmodRetSecurity;
        bool ran;
        try
        {
            if (mechanism == KernelMechanism.LsmCgroup)
            {
                using var root = OpenCgroupRoot();
                using var cgroupLink = obj.AttachCgroup(program, root.Fd);
                ran = !byEffect || HookRan(obj);
            }
            else
            {
                using var link = obj.Attach(program);
                ran = !byEffect || HookRan(obj);
            }
        }
        catch (BpfException e)
        {
            return Refused(mechanism, e, $"attach of {section} refused");
        }
        catch (IOException e)
        {
            return new MechanismProbe(mechanism, false, 2, e.Message);
        }
        if (!ran)
            return new MechanismProbe(mechanism, false, 95, mechanism == KernelMechanism.FmodRetSecurity
                ? $"{section} loaded and attached, but never ran when this process opened a file"
                : $"{section} loaded and attached, but the hook never ran: bpf is not among the active LSMs ({ActiveLsms()}; boot with lsm=...,bpf)");
        return new MechanismProbe(mechanism, true, 0, byEffect ? $"{section} loaded, attached and ran" : $"{section} loaded and attached");
    }

    /// <summary>Opens a file so file_open (and security_file_open) runs, then asks whether the attached probe saw it.</summary>
    private static bool HookRan(BpfObject obj)
    {
        var results = obj.Map("probe_results");
        results.Update(0u, 0L);
        using (File.OpenRead("/proc/self/stat"))
        {
        }
        return results.TryLookup(0u, out long ran) && ran == 1;
    }

    private static IEnumerable<MechanismProbe> ProbeSignalAndAncestor(byte[] image)
    {
        using var obj = OpenForProbe(image, "probe_send_signal");
        try
        {
            obj.Load();
            using var link = obj.Attach("probe_send_signal");
            var results = obj.Map("probe_results");
            results.Update(0u, long.MinValue);
            results.Update(1u, long.MinValue);
            GetPpid();
            results.TryLookup(0u, out long signalResult);
            results.TryLookup(1u, out long rootCgroup);
            return
            [
                signalResult switch
                {
                    0 => new MechanismProbe(KernelMechanism.SendSignal, true, 0, "bpf_send_signal(0) from raw_tp/sys_enter returned 0"),
                    long.MinValue => new MechanismProbe(KernelMechanism.SendSignal, false, 5, "the probe on sys_enter never ran"),
                    _ => new MechanismProbe(KernelMechanism.SendSignal, false, (int)-signalResult, $"bpf_send_signal returned {signalResult}"),
                },
                rootCgroup is > 0
                    ? new MechanismProbe(KernelMechanism.AncestorCgroupId, true, 0, $"bpf_get_current_ancestor_cgroup_id(0) = {rootCgroup}")
                    : new MechanismProbe(KernelMechanism.AncestorCgroupId, false, 5, "bpf_get_current_ancestor_cgroup_id gave no id (no cgroup v2?)"),
            ];
        }
        catch (BpfException e)
        {
            return [Refused(KernelMechanism.SendSignal, e, "signal probe refused"), Refused(KernelMechanism.AncestorCgroupId, e, "signal probe refused")];
        }
    }

    private static unsafe MechanismProbe ProbeMap(KernelMechanism mechanism, uint mapType)
    {
        int rc = Interop.Interop.Libbpf.ProbeMapType(mapType, null);
        return rc switch
        {
            1 => new MechanismProbe(mechanism, true, 0, "map created"),
            0 => new MechanismProbe(mechanism, false, 95, "the kernel refused to create the map type"),
            _ => new MechanismProbe(mechanism, false, -rc, "libbpf_probe_bpf_map_type failed"),
        };
    }

    private static MechanismProbe Refused(KernelMechanism mechanism, BpfException e, string what)
    {
        string reason = e.Errno switch
        {
            1 => "the kernel forbids this program type here (e.g. BPF trampolines disabled, or lockdown)",
            3 => "the attach target is not in the kernel's BTF",
            22 => "the kernel does not offer this program type or helper (e.g. no CONFIG_KPROBES / CONFIG_BPF_KPROBE_OVERRIDE)",
            95 or 524 => "not supported by this kernel (e.g. no error injection for the function)",
            _ => Errors.Describe(e.Errno),
        };
        string? said = e.Message.Split("; ", 2) is [_, var tail] ? tail : null;
        return new MechanismProbe(mechanism, false, e.Errno, $"{what} with {Errors.Name(e.Errno)}: {reason}" + (said is null ? "" : $" (kernel/libbpf: {said})"));
    }

    internal static SafeBpfFdHandle OpenCgroupRoot()
    {
        string root = CgroupFs.Mount;
        int fd = Interop.Interop.LibC.Open(root, Interop.Interop.LibC.O_RDONLY | Interop.Interop.LibC.O_DIRECTORY | Interop.Interop.LibC.O_CLOEXEC);
        if (fd < 0)
            throw new IOException($"open({root}) failed: {Errors.Name(Marshal.GetLastPInvokeError())}");
        return new SafeBpfFdHandle(fd);
    }

    internal static string ActiveLsms()
    {
        const string path = "/sys/kernel/security/lsm";
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : "unknown (securityfs not mounted)";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"unknown ({e.Message})";
        }
    }

    internal static string ReadText(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (IOException) { return "unknown"; }
    }

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetPpid();

    /// <summary>
    /// The capabilities with the hook table checked against this kernel's BTF: the hooks of the family they would use
    /// (BPF LSM or the fmod_ret fallback), and the table's syscalls newer than 6.1.
    /// </summary>
    internal static KernelCapabilities WithHookCheck(KernelCapabilities capabilities, ILogger logger)
    {
        var functions = VmlinuxBtf.KernelFunctions;
        return new(capabilities.KernelRelease, capabilities.ActiveLsms, capabilities.Probes,
            MissingLsmHooks(functions, logger, capabilities.PreventsThroughFmodRet), AbsentSyscalls(functions, logger));
    }

    /// <summary>
    /// The table's hooks this kernel's BTF lacks (logged): bpf_lsm_&lt;hook&gt;, or with <paramref name="fmodRet"/> the
    /// hook's security_* function. Empty when the BTF cannot be read, as libbpf then refuses lsm/ and fmod_ret programs anyway.
    /// </summary>
    internal static IReadOnlySet<string> MissingLsmHooks(IReadOnlySet<string>? functions, ILogger logger, bool fmodRet = false)
    {
        var missing = functions is null ? null : VmlinuxBtf.MissingLsmHooks(functions, LsmHookTable.Hooks, fmodRet);
        if (missing is null)
            logger.LogInformation("{Path} could not be read: the LSM hook table is not checked against the kernel", VmlinuxBtf.DefaultPath);
        else if (missing.Count > 0 && fmodRet)
            logger.LogWarning("this kernel has no function {Functions} for the fmod_ret fallback: the syscalls that need them are not claimed as prevented",
                string.Join(", ", missing.Order().Select(LsmHookTable.SecurityFunction)));
        else if (missing.Count > 0)
            logger.LogWarning("this kernel has no BPF LSM hook {Hooks}: the syscalls that need them are not claimed as prevented", string.Join(", ", missing.Order()));
        return missing ?? new HashSet<string>();
    }

    /// <summary>The table's syscalls newer than 6.1 that this kernel lacks (logged). Empty when the BTF cannot be read: libbpf then refuses the hooks anyway.</summary>
    private static IReadOnlySet<string> AbsentSyscalls(IReadOnlySet<string>? functions, ILogger logger)
    {
        var absent = functions is null ? null : VmlinuxBtf.AbsentSyscalls(functions, LsmHookTable.SyscallsNewerThanLinux61);
        if (absent is { Count: > 0 })
            logger.LogInformation("this kernel has no syscall {Syscalls} (ENOSYS before any hook): not claimed as stopped at a hook", string.Join(", ", absent.Order()));
        return absent ?? new HashSet<string>();
    }
}
