using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>
/// Which syscalls pass through which BPF LSM hook on every path that could have an effect: only these
/// are claimed ERRNO-enforceable through LSM. A syscall that fails before its hook (bad pointer, missing
/// file) fails with its own errno instead, but never takes effect.
/// </summary>
/// <remarks>
/// Deliberately absent: ptrace (requests on an already-traced child pass no LSM hook), socketcall (i386
/// multiplexer), getxattr/setxattr/removexattr and their l/f forms (POSIX ACL names take the *_acl hooks since 6.2,
/// which 6.1 lacks), capget (a version query with no data pointer returns before the hook), setpriority and
/// ioprio_set (one hook call per target process; the first consumes the verdict), clock_settime (PTP clocks pass no
/// hook), prlimit64 and adjtimex (their read-only forms pass no hook), acct (no hook on current kernels), and
/// everything without a hook. Left out although they would be exact, because every process hits their hooks
/// constantly and each attached hook adds a hash lookup to all its callers node-wide: the read/write family
/// (file_permission), sendmsg/recvmsg and friends (socket_sendmsg/socket_recvmsg), and the stat family
/// (inode_getattr). openat/open/creat with O_PATH skip file_open: the report says so. kill with a group target
/// (0, -1, -pgrp) asks task_kill once per process: that program keeps the verdict for the later targets.
/// </remarks>
internal static class LsmHookTable
{
    private static readonly (string Syscall, string[] Hooks)[] Entries =
    [
        // O_CREAT of a new file passes path_mknod (may_o_create) before the file exists, and file_open after it.
        ("open", ["file_open", "path_mknod"]), ("openat", ["file_open", "path_mknod"]), ("openat2", ["file_open", "path_mknod"]),
        ("creat", ["file_open", "path_mknod"]),
        ("open_by_handle_at", ["file_open"]),
        ("ioctl", ["file_ioctl"]),
        ("mmap", ["mmap_file"]), ("mmap2", ["mmap_file"]),
        ("mprotect", ["file_mprotect"]), ("pkey_mprotect", ["file_mprotect"]),
        ("unlink", ["inode_unlink"]), ("unlinkat", ["inode_unlink", "inode_rmdir"]), ("rmdir", ["inode_rmdir"]),
        ("mkdir", ["inode_mkdir"]), ("mkdirat", ["inode_mkdir"]),
        ("rename", ["inode_rename"]), ("renameat", ["inode_rename"]), ("renameat2", ["inode_rename"]),
        ("link", ["inode_link"]), ("linkat", ["inode_link"]),
        ("symlink", ["inode_symlink"]), ("symlinkat", ["inode_symlink"]),
        ("socket", ["socket_create"]), ("socketpair", ["socket_create"]),
        ("connect", ["socket_connect"]), ("bind", ["socket_bind"]), ("listen", ["socket_listen"]),
        ("kill", ["task_kill"]), ("tkill", ["task_kill"]), ("tgkill", ["task_kill"]),
        ("rt_sigqueueinfo", ["task_kill"]), ("rt_tgsigqueueinfo", ["task_kill"]),
        ("prctl", ["task_prctl"]),
        // setfsuid/setfsgid are absent: a denied call returns the old id, as a successful one does, so no errno shows.
        ("setuid", ["task_fix_setuid"]), ("setreuid", ["task_fix_setuid"]), ("setresuid", ["task_fix_setuid"]),
        ("setuid32", ["task_fix_setuid"]), ("setreuid32", ["task_fix_setuid"]), ("setresuid32", ["task_fix_setuid"]),
        ("setgid", ["task_fix_setgid"]), ("setregid", ["task_fix_setgid"]), ("setresgid", ["task_fix_setgid"]),
        ("setgid32", ["task_fix_setgid"]), ("setregid32", ["task_fix_setgid"]), ("setresgid32", ["task_fix_setgid"]),
        ("mount", ["sb_mount"]), ("umount", ["sb_umount"]), ("umount2", ["sb_umount"]), ("pivot_root", ["sb_pivotroot"]),
        ("bpf", ["bpf"]),
        // Reads of the extended attribute list (vfs_listxattr asks before listing). get/set/removexattr are absent:
        // since 6.2 POSIX ACL names take inode_get_acl/inode_set_acl/inode_remove_acl instead, hooks 6.1 lacks.
        ("listxattr", ["inode_listxattr"]), ("llistxattr", ["inode_listxattr"]), ("flistxattr", ["inode_listxattr"]),
        ("accept", ["socket_accept"]), ("accept4", ["socket_accept"]),
        ("getsockname", ["socket_getsockname"]), ("getpeername", ["socket_getpeername"]),
        ("setsockopt", ["socket_setsockopt"]), ("getsockopt", ["socket_getsockopt"]), ("shutdown", ["socket_shutdown"]),
        ("fcntl", ["file_fcntl"]), ("fcntl64", ["file_fcntl"]), ("flock", ["file_lock"]),
        ("chroot", ["path_chroot"]),
        // Every attribute change (times, mode, owner, size) ends in notify_change, which asks inode_setattr before
        // the filesystem changes anything.
        ("utime", ["inode_setattr"]), ("utimes", ["inode_setattr"]), ("futimesat", ["inode_setattr"]),
        ("utimensat", ["inode_setattr"]), ("utimensat_time64", ["inode_setattr"]),
        ("chmod", ["inode_setattr"]), ("fchmod", ["inode_setattr"]), ("fchmodat", ["inode_setattr"]), ("fchmodat2", ["inode_setattr"]),
        ("chown", ["inode_setattr"]), ("fchown", ["inode_setattr"]), ("lchown", ["inode_setattr"]), ("fchownat", ["inode_setattr"]),
        ("chown32", ["inode_setattr"]), ("fchown32", ["inode_setattr"]), ("lchown32", ["inode_setattr"]),
        ("truncate", ["inode_setattr"]), ("ftruncate", ["inode_setattr"]), ("truncate64", ["inode_setattr"]), ("ftruncate64", ["inode_setattr"]),
        ("capset", ["capset"]),
        // One target each (setpriority and ioprio_set are absent: a process group or user means one hook call per
        // process, and the verdict is consumed by the first).
        ("sched_setscheduler", ["task_setscheduler"]), ("sched_setparam", ["task_setscheduler"]),
        ("sched_setattr", ["task_setscheduler"]), ("sched_setaffinity", ["task_setscheduler"]),
        ("setrlimit", ["task_setrlimit"]),
        ("syslog", ["syslog"]),
        // settimeofday only: clock_settime on a dynamic (PTP) clock sets it without the settime hook.
        ("settimeofday", ["settime"]),
        ("perf_event_open", ["perf_event_open"]),
    ];

    private static readonly Dictionary<string, string[]> BySyscall = Entries.ToDictionary(e => e.Syscall, e => e.Hooks);

    /// <summary>The hooks the table names.</summary>
    internal static IReadOnlyList<string> Hooks { get; } = Entries.SelectMany(e => e.Hooks).Distinct().ToArray();

    /// <summary>The BPF program names (lsm_&lt;hook&gt;) the table needs.</summary>
    internal static IReadOnlyList<string> Programs { get; } = Hooks.Select(h => LsmPrefix + h).ToArray();

    /// <summary>The program name prefixes of the two families of bpf/lib/lsm_hooks.h.</summary>
    internal const string LsmPrefix = "lsm_", FmodRetPrefix = "fmodret_";

    /// <summary>The programs to load on a kernel that lacks <paramref name="missingHooks"/>: lsm_&lt;hook&gt;, or fmodret_&lt;hook&gt; for the fmod_ret fallback.</summary>
    internal static IReadOnlyList<string> ProgramsFor(IReadOnlySet<string> missingHooks, bool fmodRet = false)
        => Hooks.Where(h => !missingHooks.Contains(h)).Select(h => (fmodRet ? FmodRetPrefix : LsmPrefix) + h).ToArray();

    /// <summary>
    /// The security_* function that calls the hook, where the fmod_ret fallback attaches (bpf/lib/lsm_hooks.h). Named
    /// after the hook, except where the kernel's function is not (checked against the BTF of 6.1, 6.12 and 6.18).
    /// </summary>
    internal static string SecurityFunction(string hook) => hook switch
    {
        "settime" => "security_settime64",
        _ => "security_" + hook,
    };

    /// <summary>
    /// The hooks a syscall passes through, or null when no hook covers it, one of them is missing on this kernel, or the
    /// kernel does not have the syscall.
    /// </summary>
    internal static string[]? HooksFor(uint auditArch, uint nr, KernelCapabilities kernel)
        => SyscallTable.NameOf(auditArch, nr) is { } name && BySyscall.GetValueOrDefault(BaseName(name)) is { } hooks
            && ClaimableOn(kernel, BaseName(name), hooks) ? hooks : null;

    /// <summary>Whether this kernel has the syscall and every hook it passes through.</summary>
    private static bool ClaimableOn(KernelCapabilities kernel, string syscall, string[] hooks)
        => !hooks.Any(kernel.MissingLsmHooks.Contains) && !kernel.AbsentSyscalls.Contains(syscall);

    /// <summary>
    /// The table's syscalls added after Linux 6.1, the oldest kernel supported (its last syscall is 450; numbers above
    /// 423 are the same on every arch, x32's aside): checked against the running kernel's BTF, as a kernel without one
    /// returns ENOSYS.
    /// </summary>
    internal static IEnumerable<string> SyscallsNewerThanLinux61
        => Entries.Select(e => e.Syscall).Where(name => SyscallTable.NumbersOf(SyscallTable.AuditArchX86_64, name).Any(nr => (nr & SyscallTable.X32Bit) == 0 && nr > 450));

    /// <summary>The hooks a syscall passes through, or null when no hook covers it.</summary>
    internal static string[]? HooksFor(uint auditArch, uint nr)
    {
        string? name = SyscallTable.NameOf(auditArch, nr);
        return name is null ? null : BySyscall.GetValueOrDefault(BaseName(name));
    }

    private static string BaseName(string name) => name.EndsWith("(x32)", StringComparison.Ordinal) ? name[..^5] : name;

    /// <summary>Every syscall number of this arch that some hook covers.</summary>
    internal static IEnumerable<uint> CoveredNumbers(uint auditArch)
        => Entries.SelectMany(e => SyscallTable.NumbersOf(auditArch, e.Syscall)).Distinct().Order();

    /// <summary>Every syscall number of this arch whose hooks are all present, of the syscalls this kernel has.</summary>
    internal static IEnumerable<uint> CoveredNumbers(uint auditArch, KernelCapabilities kernel)
        => Entries.Where(e => ClaimableOn(kernel, e.Syscall, e.Hooks)).SelectMany(e => SyscallTable.NumbersOf(auditArch, e.Syscall)).Distinct().Order();

    internal static int SyscallCount => Entries.Length;
}
