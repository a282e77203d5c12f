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

static __always_inline void record_syscall(__u64 bound_cgroup, const struct syscall_view *view)
{
	struct recording *rec = bpf_map_lookup_elem(&recordings, &bound_cgroup);
	__u32 nr = view->nr, table = SC_RECORD_X86_64, word;
	__u64 mask;

	if (!rec)
		return;
	if (view->compat)
		table = SC_RECORD_I386;
	else if (nr & X32_SYSCALL_BIT) {
		table = SC_RECORD_X32;
		nr &= ~X32_SYSCALL_BIT;
	}
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

#endif
