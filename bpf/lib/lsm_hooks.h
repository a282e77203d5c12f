/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One BPF LSM program per hook that some syscall reliably passes through
 * (plugin/SeccompEbpf.Bpf/Enforcement/LsmHookTable.cs says which syscalls).
 * The programs read no hook arguments, so one source fits every kernel's
 * hook signature. A prior BPF program's non-zero verdict never reaches us:
 * the LSM trampoline stops at the first program that returns non-zero.
 */
#ifndef __SC_LSM_HOOKS_H
#define __SC_LSM_HOOKS_H

/*
 * Each hook twice: as a BPF LSM program, and as fmod_ret on the security_<fn> function that calls the hook, for
 * kernels where bpf is not an active LSM (the lsm/ program attaches there and never runs). The verifier allows
 * modify-return on every security_* function, error injection or not; its contract is the LSM program's: 0 runs the
 * function (and so every LSM), non-zero skips it and becomes its return value. The engine loads one family only
 * (LsmHookTable.ProgramsFor). FN differs from HOOK where the kernel names the function otherwise (settime).
 */
#define SC_LSM_HOOK_AT(hook, fn)                 \
	SEC("lsm/" #hook)                        \
	int lsm_##hook(void *ctx)                \
	{                                        \
		return consume_verdict();        \
	}                                        \
	SEC("fmod_ret/security_" #fn)            \
	int fmodret_##hook(void *ctx)            \
	{                                        \
		return consume_verdict();        \
	}

#define SC_LSM_HOOK(hook) SC_LSM_HOOK_AT(hook, hook)

SC_LSM_HOOK(file_open)
SC_LSM_HOOK(path_mknod) /* needs CONFIG_SECURITY_PATH (Debian: yes, AppArmor needs it) */
SC_LSM_HOOK(file_ioctl)
SC_LSM_HOOK(mmap_file)
SC_LSM_HOOK(file_mprotect)
SC_LSM_HOOK(inode_unlink)
SC_LSM_HOOK(inode_rmdir)
SC_LSM_HOOK(inode_mkdir)
SC_LSM_HOOK(inode_rename)
SC_LSM_HOOK(inode_link)
SC_LSM_HOOK(inode_symlink)
SC_LSM_HOOK(socket_create)
SC_LSM_HOOK(socket_connect)
SC_LSM_HOOK(socket_bind)
SC_LSM_HOOK(socket_listen)
/* a group kill reaches task_kill once per target: every target must see the verdict (see consume_verdict_keep) */
SEC("lsm/task_kill")
int lsm_task_kill(void *ctx)
{
	return consume_verdict_keep(true);
}
SEC("fmod_ret/security_task_kill")
int fmodret_task_kill(void *ctx)
{
	return consume_verdict_keep(true);
}
SC_LSM_HOOK(task_prctl)
SC_LSM_HOOK(task_fix_setuid)
SC_LSM_HOOK(task_fix_setgid)
SC_LSM_HOOK(sb_mount)
SC_LSM_HOOK(sb_umount)
SC_LSM_HOOK(sb_pivotroot)
SC_LSM_HOOK(ptrace_access_check)
SC_LSM_HOOK(ptrace_traceme)
SC_LSM_HOOK(bpf)
SC_LSM_HOOK(inode_listxattr)
SC_LSM_HOOK(socket_accept)
SC_LSM_HOOK(socket_getsockname)
SC_LSM_HOOK(socket_getpeername)
SC_LSM_HOOK(socket_setsockopt)
SC_LSM_HOOK(socket_getsockopt)
SC_LSM_HOOK(socket_shutdown)
SC_LSM_HOOK(file_fcntl)
SC_LSM_HOOK(file_lock)
SC_LSM_HOOK(path_chroot) /* CONFIG_SECURITY_PATH, as path_mknod */
SC_LSM_HOOK(inode_setattr)
SC_LSM_HOOK(capset)
SC_LSM_HOOK(task_setscheduler)
SC_LSM_HOOK(task_setrlimit)
SC_LSM_HOOK(syslog)
SC_LSM_HOOK_AT(settime, settime64) /* the hook is settime, its caller security_settime64 */
SC_LSM_HOOK(perf_event_open)

#endif
