/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Live recording (docs/recording.md): the set of syscalls a bound container attempts, as a bitmap per syscall table.
 * Called only for bindings with SC_BINDING_RECORDING, so other containers pay the flag test on the binding they
 * already hold. A recording container pays one hash lookup and a bit test; the atomic OR (a locked instruction,
 * shared by every CPU that runs the container) happens only the first time a syscall is seen.
 */
#ifndef __SC_RECORD_H
#define __SC_RECORD_H

#define X32_SYSCALL_BIT 0x40000000u

/* The recording table (SC_RECORD_*) of a syscall, and its number within that table (x32 without its bit). */
static __always_inline __u32 record_table(const struct syscall_view *view, __u32 *nr)
{
	*nr = view->nr;
	if (view->compat)
		return SC_RECORD_I386;
	if (*nr & X32_SYSCALL_BIT) {
		*nr &= ~X32_SYSCALL_BIT;
		return SC_RECORD_X32;
	}
	return SC_RECORD_X86_64;
}

static __always_inline void record_syscall(__u64 bound_cgroup, const struct syscall_view *view)
{
	struct recording *rec = bpf_map_lookup_elem(&recordings, &bound_cgroup);
	__u32 nr, table = record_table(view, &nr), word;
	__u64 mask;

	if (!rec)
		return;
	if (nr >= SC_RECORD_NRS) {
		if (!rec->out_of_range)
			rec->out_of_range = 1; /* a flag, not a count: racing writers all write 1 */
		return;
	}
	word = table * (SC_RECORD_NRS / 64) + nr / 64;
	/* the compiler knows word < 24 and would drop the check the verifier needs right before the access */
	asm volatile("" : "+r"(word));
	if (word >= SC_RECORD_TABLES * SC_RECORD_NRS / 64)
		return;
	mask = 1ULL << (nr & 63);
	if (!(rec->bits[word] & mask))
		__sync_fetch_and_or(&rec->bits[word], mask);
}

/*
 * `record --with-args` (docs/recording.md): the distinct values of one argument of a few chosen syscalls. Called
 * only for bindings with SC_BINDING_RECORD_ARGS (a flag test on the binding already held); such a container pays one
 * more hash lookup and SC_RECORD_ARG_SLOTS number compares per syscall, and only the chosen syscalls read their
 * arguments and scan the slot's array. Everything is bounded: 4 slots, 16 entries, no map growth per value.
 */
static __always_inline void record_arg_value(struct record_arg_slot *slot, __u64 value)
{
	__u64 ready = slot->ready, claim;
	__u32 i;

	for (i = 0; i < SC_RECORD_ARG_VALUES; i++)
		if ((ready & (1ULL << i)) && slot->values[i] == value)
			return; /* the common case once the workload's values are known: no write at all */
	if (slot->claimed >= SC_RECORD_ARG_VALUES) {
		if (!slot->overflow)
			slot->overflow = 1;
		return;
	}
	claim = __sync_fetch_and_add(&slot->claimed, 1);
	if (claim >= SC_RECORD_ARG_VALUES) {
		if (!slot->overflow)
			slot->overflow = 1;
		return;
	}
	/* the compiler knows claim < 16 here and would drop the check the verifier needs right before the access */
	asm volatile("" : "+r"(claim));
	if (claim >= SC_RECORD_ARG_VALUES)
		return;
	slot->values[claim] = value;
	/* published after the value is written (a locked instruction, ordered after the store): readers trust ready bits only */
	__sync_fetch_and_or(&slot->ready, 1ULL << claim);
}

static __always_inline void record_args_of(__u64 bound_cgroup, struct syscall_view *view)
{
	struct record_args *rec = bpf_map_lookup_elem(&record_args, &bound_cgroup);
	__u32 nr, table = record_table(view, &nr), s;

	if (!rec)
		return;
	for (s = 0; s < SC_RECORD_ARG_SLOTS; s++) {
		struct record_arg_slot *slot = &rec->slots[s];
		__u32 index;

		if (slot->nr[table] != nr) /* SC_RECORD_ARG_NONE never matches: numbers here are below 0x40000000 */
			continue;
		index = slot->index;
		if (index >= 6)
			continue;
		load_args(view);
		record_arg_value(slot, view->args[index]);
	}
}

#endif
