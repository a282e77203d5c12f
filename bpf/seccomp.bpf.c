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
#include "lib/events.h"
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

SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	struct sc_settings *cfg = current_config();
	struct syscall_view view = {};
	struct decision decision = {};
	struct binding binding;
	struct binding *found;
	__u64 bound_cgroup;
	__u16 flags;

	found = find_binding(cfg, &bound_cgroup);
	if (!found) {
		count(SC_CNT_UNMANAGED);
		return 0;
	}
	binding = *found;
	count(SC_CNT_MANAGED);
	build_view(regs, id, &view);
	evaluate(binding.slot, &view, &decision);
	count(SC_CNT_ACTION_BASE + (decision.action.kind & 7));

	flags = (decision.action.flags & SC_ACTION_DEGRADED) ? SC_EVENT_DEGRADED : 0;
	if (decision.action.kind == SC_ALLOW) {
		drop_stale_verdict(cfg);
		return 0;
	}
	drop_stale_verdict(cfg);
	if (decision.action.kind == SC_LOG) {
		emit_event(cfg, bound_cgroup, &binding, &view, &decision, flags);
		return 0;
	}
	if (binding.mode == SC_MODE_AUDIT) {
		count(SC_CNT_AUDITED);
		emit_event(cfg, bound_cgroup, &binding, &view, &decision, flags | SC_EVENT_AUDIT_ONLY);
		return 0;
	}

	flags |= SC_EVENT_ENFORCED;
	if (decision.action.flags & SC_ACTION_PREVENT) {
		hand_verdict(view.nr, prevention_errno(&decision.action));
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
	emit_event(cfg, bound_cgroup, &binding, &view, &decision, flags);
	return 0;
}
