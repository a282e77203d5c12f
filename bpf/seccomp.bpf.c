// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Copyright (c) SeccompEbpf authors */
/*
 * Seccomp profiles enforced with eBPF, per container (cgroup v2 id), live-updatable.
 * handle_sys_enter decides; the LSM programs (lib/lsm_hooks.h) carry ERRNO and KILL
 * verdicts where a hook is reached; probes (lib/probes.h) learn what the kernel accepts.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "seccomp.h"
#include "lib/maps.h"
#include "lib/binding.h"
#include "lib/evaluate.h"
#include "lib/record.h"
#include "lib/events.h"
#include "lib/shadow.h"
#include "lib/verdict.h"
#include "lib/lsm_hooks.h"
#include "lib/probes.h"
#include "lib/gate.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGKILL 9
#define SIGSYS 31
#define EPERM_ERRNO 1

static __always_inline __s32 prevention_errno(const struct sc_action *action)
{
	switch (action->kind) {
	case SC_ERRNO:
		return action->data;
	case SC_TRACE: /* no tracer attached */
	case SC_NOTIFY: /* no listener */
		return ENOSYS_ERRNO;
	case SC_TRAP:
		/* SIGSYS follows; EPERM (not ENOSYS, which task_prctl reads as "no opinion") keeps every hook closed */
		return EPERM_ERRNO;
	default:
		return EPERM_ERRNO; /* KILL_*: the task dies before it sees this */
	}
}

/* Drops a verdict an earlier syscall of this thread left behind, only when one may exist (on LSM kernels the lookup costs). */
static __always_inline void drop_stale_verdict_if_any(struct sc_settings *cfg, struct task_binding *cache)
{
	if (cache && !cache->verdict_maybe_pending)
		return;
	drop_stale_verdict(cfg);
	if (cache)
		cache->verdict_maybe_pending = 0;
}

/*
 * Every syscall of every task on the node while some binding exists. The unmanaged path is one task-storage
 * lookup, the cgroup id and two inlined array reads (the floor of this design is the tracepoint itself); a
 * managed syscall its profile allows unconditionally adds one inlined array lookup and a per-CPU counter.
 */
SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall_view view = {};
	struct decision decision = {};
	struct task_binding *cache;
	struct sc_settings *cfg;
	struct binding binding;
	__u64 bound_cgroup;
	__u16 flags;

	if (!current_binding(task, &cache, &binding, &bound_cgroup))
		return 0;
	build_view(task, regs, id, &view);
	/* before any decision: a syscall the policy denies was attempted all the same */
	if (binding.flags & SC_BINDING_RECORDING) {
		record_syscall(bound_cgroup, &view);
		if (binding.flags & SC_BINDING_RECORD_ARGS)
			record_args_of(bound_cgroup, &view);
	}
	if (allowed_unconditionally(binding.slot, &view)) {
		count(SC_CNT_ACTION_BASE + SC_ALLOW);
		if (binding.flags & SC_BINDING_SHADOW)
			shadow_compare(bound_cgroup, binding.mode, &view, SC_ALLOW, 0);
		if (!cache || cache->verdict_maybe_pending)
			drop_stale_verdict_if_any(current_config(), cache);
		return 0;
	}

	cfg = current_config();
	evaluate(binding.slot, &view, &decision);
	count(SC_CNT_ACTION_BASE + (decision.action.kind & 7));
	/* before the verdict is applied: a KILL in force must not hide what the shadow says of the same call */
	if (binding.flags & SC_BINDING_SHADOW)
		shadow_compare(bound_cgroup, binding.mode, &view, decision.action.kind, decision.action.data);

	flags = (decision.action.flags & SC_ACTION_DEGRADED) ? SC_EVENT_DEGRADED : 0;
	drop_stale_verdict_if_any(cfg, cache);
	if (decision.action.kind == SC_ALLOW)
		return 0;
	if (decision.action.kind == SC_LOG) {
		emit_event(cfg, bound_cgroup, binding.mode, &view, &decision, flags);
		return 0;
	}
	if (binding.mode == SC_MODE_AUDIT) {
		count(SC_CNT_AUDITED);
		emit_event(cfg, bound_cgroup, binding.mode, &view, &decision, flags | SC_EVENT_AUDIT_ONLY);
		return 0;
	}

	flags |= SC_EVENT_ENFORCED;
	if (decision.action.flags & SC_ACTION_PREVENT) {
		hand_verdict(view.nr, prevention_errno(&decision.action));
		if (cache)
			cache->verdict_maybe_pending = 1;
		flags |= SC_EVENT_PREVENTED;
	}
	if (decision.action.kind == SC_TRAP) {
		if (bpf_send_signal_thread(SIGSYS))
			count(SC_CNT_SIGNAL_FAILURES);
		else
			count(SC_CNT_SIGNALS);
	} else if (decision.action.kind >= SC_KILL_THREAD) {
		/* SIGKILL takes the whole thread group: KILL_THREAD becomes a process kill */
		if (bpf_send_signal(SIGKILL))
			count(SC_CNT_SIGNAL_FAILURES);
		else
			count(SC_CNT_SIGNALS);
	}
	emit_event(cfg, bound_cgroup, binding.mode, &view, &decision, flags);
	return 0;
}
