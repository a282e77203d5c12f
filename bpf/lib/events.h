/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Ring-buffer events, rate-limited per bound cgroup; drops are counted. */
#ifndef __SC_EVENTS_H
#define __SC_EVENTS_H

#define NSEC_PER_SEC 1000000000ull

static __always_inline bool within_rate(struct sc_settings *cfg, __u64 bound_cgroup, __u64 now)
{
	struct rate_value fresh = { .window_start_ns = now };
	struct rate_value *rate;
	__u32 limit = cfg ? cfg->events_per_second : 0;

	if (!limit)
		return true;
	rate = bpf_map_lookup_elem(&log_rate, &bound_cgroup);
	if (!rate) {
		fresh.emitted = 1;
		bpf_map_update_elem(&log_rate, &bound_cgroup, &fresh, BPF_NOEXIST);
		return true;
	}
	/* a racy window reset only lets a few extra events through */
	if (now - rate->window_start_ns >= NSEC_PER_SEC) {
		rate->window_start_ns = now;
		rate->emitted = 0;
	}
	if (rate->emitted >= limit) {
		__sync_fetch_and_add(&rate->dropped, 1);
		count(SC_CNT_RATE_DROPS);
		return false;
	}
	__sync_fetch_and_add(&rate->emitted, 1);
	return true;
}

static __always_inline void emit_event(struct sc_settings *cfg, __u64 bound_cgroup, __u8 mode,
				       struct syscall_view *view, const struct decision *decision,
				       __u16 flags)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 pid_tgid;
	struct sc_event *event;

	if (!within_rate(cfg, bound_cgroup, now))
		return;
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(SC_CNT_RINGBUF_DROPS);
		return;
	}
	load_args(view);
	pid_tgid = bpf_get_current_pid_tgid();
	event->timestamp_ns = now;
	event->cgroup_id = bpf_get_current_cgroup_id();
	event->bound_cgroup_id = bound_cgroup;
	event->pid = pid_tgid >> 32;
	event->tid = (__u32)pid_tgid;
	event->audit_arch = view->audit_arch;
	event->nr = view->nr;
	for (int i = 0; i < 6; i++)
		event->args[i] = view->args[i];
	event->action = decision->action.kind;
	event->mode = mode;
	event->data = decision->action.data;
	event->rule = decision->rule;
	event->flags = flags;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	bpf_ringbuf_submit(event, 0);
	count(SC_CNT_EVENTS);
}

#endif
