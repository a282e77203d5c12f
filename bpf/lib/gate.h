/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The fail-closed gate. NRI only tells a running daemon about containers: one created
 * while the daemon is down, restarting or dropped by the runtime would start unprotected
 * and unrecorded. This program, pinned like the rest, watches every exec on the node:
 * an exec in a container cgroup (below a runtime's container cgroup parent) that the
 * daemon has not admitted, while no daemon vouches for the node, is recorded and, in
 * deny-exec mode, killed before the new image runs. The daemon admits each container at
 * StartContainer (before its entrypoint's exec) and renews its vouch while it follows
 * the runtime, so nothing is gated while NRI does the job.
 *
 * In profile mode the gate binds the cgroup to a fallback profile instead of killing:
 * the daemon keeps that profile in a slot of its own (gate_fallback) and keeps the
 * sys_enter and LSM programs attached, so the binding acts from the new image's first
 * instruction. The next daemon adopts the binding (flagged SC_BINDING_FROM_GATE) and
 * replaces it with the container's own policy.
 */
#ifndef __SC_GATE_H
#define __SC_GATE_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gate_config);
} gate_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gate_fallback);
} gate_fallback SEC(".maps");

/* cgroup id -> 1: containers and sandboxes the daemon has seen through NRI */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} gate_admitted SEC(".maps");

/* cgroup id -> what happened there while no daemon vouched; the daemon reports and clears it */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct gate_record);
} gate_records SEC(".maps");

static __always_inline bool in_container_cgroup(const struct gate_config *cfg, __u64 cgroup)
{
	for (__u32 i = 0; i < SC_GATE_MAX_PARENTS; i++) {
		if (i >= cfg->parents)
			break;
		__u32 level = cfg->parent[i].level;

		if (level >= 64)
			continue;
		/* strictly below the parent: the parent's own tasks (the runtime's, if any) are not containers */
		if (cgroup != cfg->parent[i].id && bpf_get_current_ancestor_cgroup_id(level) == cfg->parent[i].id)
			return true;
	}
	return false;
}

/* The depth of the task's own cgroup, found below the parent's level: a binding records it (the ancestor walk's levels). */
static __always_inline __u16 own_cgroup_level(__u64 cgroup)
{
	for (__u32 level = 1; level < 64; level++) {
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level);

		if (!ancestor)
			break;
		if (ancestor == cgroup)
			return level;
	}
	return 0;
}

/* Binds the cgroup to the armed fallback profile; true when this exec made the binding. */
static __always_inline bool bind_fallback(__u64 cgroup)
{
	__u32 zero = 0;
	struct gate_fallback *fallback = bpf_map_lookup_elem(&gate_fallback, &zero);
	struct binding binding = {};

	if (!fallback || !fallback->slot)
		return false;
	binding.slot = fallback->slot;
	binding.mode = SC_MODE_ENFORCE;
	binding.flags = SC_BINDING_FROM_GATE;
	binding.level = own_cgroup_level(cgroup);
	/* never over a binding a daemon made (a container bound but not yet admitted) */
	if (bpf_map_update_elem(&bindings, &cgroup, &binding, BPF_NOEXIST))
		return false;
	bindings_changed(); /* the exec'ing task's cached "unmanaged" answer is stale now */
	return true;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec_gate)
{
	__u32 zero = 0;
	struct gate_config *cfg = bpf_map_lookup_elem(&gate_config, &zero);
	struct gate_record fresh = {}, *record;
	__u64 cgroup, now;
	bool deny, bound = false;

	if (!cfg || cfg->mode == SC_GATE_OFF)
		return 0;
	now = bpf_ktime_get_ns();
	if (now < cfg->vouched_until_ns)
		return 0;
	cgroup = bpf_get_current_cgroup_id();
	if (!in_container_cgroup(cfg, cgroup) || bpf_map_lookup_elem(&gate_admitted, &cgroup))
		return 0;

	deny = cfg->mode == SC_GATE_DENY_EXEC;
	if (cfg->mode == SC_GATE_PROFILE)
		bound = bind_fallback(cgroup);
	record = bpf_map_lookup_elem(&gate_records, &cgroup);
	if (!record) {
		fresh.first_ns = now;
		bpf_map_update_elem(&gate_records, &cgroup, &fresh, BPF_NOEXIST);
		record = bpf_map_lookup_elem(&gate_records, &cgroup);
	}
	if (record) {
		__sync_fetch_and_add(&record->execs, 1);
		if (deny)
			__sync_fetch_and_add(&record->denied, 1);
		record->last_ns = now;
		record->last_pid = bpf_get_current_pid_tgid() >> 32;
		if (bound)
			record->flags |= SC_GATE_RECORD_BOUND;
		bpf_get_current_comm(record->comm, sizeof(record->comm));
	}
	/* past the point of no return of execve: the signal lands before the first user instruction */
	if (deny)
		bpf_send_signal(9);
	return 0;
}

#endif
