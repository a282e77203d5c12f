namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>
/// Which syscalls pass through which BPF LSM hook on every path that could have an effect: only these
/// are claimed ERRNO-enforceable through LSM. A syscall that fails before its hook (bad pointer, missing
/// file) fails with its own errno instead, but never takes effect.
/// </summary>
/// <remarks>
/// Deliberately absent: ptrace (requests on an already-traced child pass no LSM hook), socketcall (i386
/// multiplexer), chmod/chown (hook signatures differ between kernels), and everything without a hook.
/// openat/open/creat with O_PATH skip file_open: the report says so.
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
    ];

    private static readonly Dictionary<string, string[]> BySyscall = Entries.ToDictionary(e => e.Syscall, e => e.Hooks);

    /// <summary>The BPF program names (lsm_&lt;hook&gt;) the table needs.</summary>
    internal static IReadOnlyList<string> Programs { get; } = Entries.SelectMany(e => e.Hooks).Distinct().Select(h => "lsm_" + h).ToArray();

    /// <summary>The hooks a syscall passes through, or null when no hook covers it.</summary>
    internal static string[]? HooksFor(uint auditArch, uint nr)
    {
        string? name = SyscallTable.NameOf(auditArch, nr);
        if (name is null)
            return null;
        if (name.EndsWith("(x32)", StringComparison.Ordinal))
            name = name[..^5];
        return BySyscall.GetValueOrDefault(name);
    }

    /// <summary>Every syscall number of this arch that some hook covers.</summary>
    internal static IEnumerable<uint> CoveredNumbers(uint auditArch)
        => Entries.SelectMany(e => SyscallTable.NumbersOf(auditArch, e.Syscall)).Distinct().Order();

    internal static int SyscallCount => Entries.Length;
}
