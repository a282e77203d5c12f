/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Decide in one place, act in another (Tetragon's enforcer pattern): sys_enter
 * stores the verdict for the running syscall under pid_tgid, and the LSM hook
 * the syscall passes through (or fmod_ret on the hook's security_* function,
 * where bpf is not an active LSM) returns it as -errno, before any side effect.
 */
#ifndef __SC_VERDICT_H
#define __SC_VERDICT_H

static __always_inline void hand_verdict(__u32 nr, __s32 error)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct verdict v = { .nr = nr, .error = error };

	bpf_map_update_elem(&pending, &id, &v, BPF_ANY);
}

/* A verdict left by an earlier syscall that never reached a hook must not hit this one. */
static __always_inline void drop_stale_verdict(struct sc_settings *cfg)
{
	__u64 id;

	if (!cfg || !(cfg->flags & SC_CONFIG_LSM_PREVENTION))
		return;
	id = bpf_get_current_pid_tgid();
	if (bpf_map_lookup_elem(&pending, &id))
		bpf_map_delete_elem(&pending, &id);
}

/*
 * keep: leave the verdict for later calls of the same hook in the same syscall. kill(0|-1|-pgrp) asks task_kill once
 * per target process: a verdict consumed at the first target would let the others be signalled and the call report
 * success. A kept verdict goes at the thread's next managed sys_enter (drop_stale_verdict) or when the programs detach.
 */
static __always_inline int consume_verdict_keep(bool keep)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct verdict *v = bpf_map_lookup_elem(&pending, &id);
	struct pt_regs *regs;
	__u32 error;
	int zero = 0;

	if (!v)
		return 0;
	/* only the syscall the verdict was made for */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (v->nr != (__u32)BPF_CORE_READ(regs, orig_ax))
		return 0;
	error = (__u32)v->error;
	if (!keep)
		bpf_map_delete_elem(&pending, &id);
	count(SC_CNT_LSM_DENIALS);
	/*
	 * LSM programs must return a value in [-4095, 0] (enforced since 6.x; fmod_ret has no such rule and shares the
	 * body); the engine only hands over
	 * errnos 1..4094, and a bounded value is what lets the verifier see that.
	 */
	if (error == 0 || error > 4095)
		error = 1;
	/*
	 * Spelled for the verifier (6.12 refused the plain -(int)error): clang tests a zero-extended copy
	 * and returns the original register, whose bounds the verifier then lacks, and the 6.12 verifier
	 * forgets all bounds on a negation (BPF_NEG). The mask, a no-op on 1..4095 that the barrier keeps,
	 * bounds the register returned; subtracting it from an opaque zero keeps that bound.
	 */
	barrier_var(error);
	error &= 4095;
	barrier_var(zero);
	return zero - (int)error;
}

static __always_inline int consume_verdict(void)
{
	return consume_verdict_keep(false);
}

#endif
