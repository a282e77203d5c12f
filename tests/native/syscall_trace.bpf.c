// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test-only reference for the engine's recording (tests/SeccompEbpf.Bpf.Tests/RecordingTests.cs): counts the syscall
 * numbers that tasks of one cgroup enter, seen from its own raw_tp/sys_enter program. It shares no code with
 * bpf/: no bindings, no task cache, no bitmap, just the cgroup id and the number the tracepoint reports.
 */
#include "../../bpf/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define OTHER_NR 1023 /* negative numbers and numbers above 1022 (x32's 0x40000000 range) */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} target_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OTHER_NR + 1);
	__type(key, __u32);
	__type(value, __u64);
} entered SEC(".maps");

SEC("raw_tp/sys_enter")
int BPF_PROG(trace_sys_enter, struct pt_regs *regs, long id)
{
	__u32 zero = 0, key;
	__u64 *target = bpf_map_lookup_elem(&target_cgroup, &zero), *count;

	if (!target || *target != bpf_get_current_cgroup_id())
		return 0;
	key = id < 0 || id >= OTHER_NR ? OTHER_NR : (__u32)id;
	count = bpf_map_lookup_elem(&entered, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}
