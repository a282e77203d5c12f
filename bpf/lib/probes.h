/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Tiny programs the engine loads and attaches one at a time at start-up to
 * learn what this kernel accepts. Never loaded with the enforcement programs.
 */
#ifndef __SC_PROBES_H
#define __SC_PROBES_H

const volatile __u32 probe_target_tgid = 0; /* the engine's own process */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
} probe_results SEC(".maps");

static __always_inline bool probe_is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == probe_target_tgid;
}

SEC("raw_tp/sys_enter")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int probe_tp_btf(void *ctx)
{
	return 0;
}

/* An LSM program can load and attach and still never run (bpf not in the active LSMs): record that it ran (fmod_ret too). */
static __always_inline void probe_mark_ran(void)
{
	__u32 key = 0;
	__s64 ran = 1;

	if (probe_is_target())
		bpf_map_update_elem(&probe_results, &key, &ran, BPF_ANY);
}

SEC("lsm/file_open")
int probe_lsm(void *ctx)
{
	probe_mark_ran();
	return 0;
}

SEC("lsm_cgroup/file_open")
int probe_lsm_cgroup(void *ctx)
{
	probe_mark_ran();
	return 1; /* allow */
}

/* The fallback for BPF LSM (lib/lsm_hooks.h): needs only a trampoline on a security_* function, no bpf in the LSM list. */
SEC("fmod_ret/security_file_open")
int probe_fmod_ret_security(void *ctx)
{
	probe_mark_ran();
	return 0;
}

SEC("fmod_ret/__x64_sys_prctl")
int probe_fmod_ret(void *ctx)
{
	return 0;
}

SEC("kprobe/__x64_sys_prctl")
int probe_kprobe_override(struct pt_regs *ctx)
{
	if (probe_is_target())
		bpf_override_return(ctx, 0);
	return 0;
}

/* Signal 0 checks delivery rights without disturbing the engine; the result is read back. */
SEC("raw_tp/sys_enter")
int probe_send_signal(void *ctx)
{
	__u32 key = 0;
	__s64 result;

	if (!probe_is_target())
		return 0;
	result = bpf_send_signal(0);
	bpf_map_update_elem(&probe_results, &key, &result, BPF_ANY);
	key = 1;
	result = (__s64)bpf_get_current_ancestor_cgroup_id(0);
	bpf_map_update_elem(&probe_results, &key, &result, BPF_ANY);
	return 0;
}

#endif
