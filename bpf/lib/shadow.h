/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shadow profiles (docs/shadow.md): a second profile evaluated on a bound container's syscalls with the same code as
 * the profile in force, never applied. Called only for bindings with SC_BINDING_SHADOW, so other containers pay the
 * flag test on the binding they already hold.
 */
#ifndef __SC_SHADOW_H
#define __SC_SHADOW_H

/* What a verdict does to the syscall: LOG runs it as ALLOW does (only the logging differs, which is no difference here). */
static __always_inline __u8 shadow_outcome(__u8 kind)
{
	return kind == SC_LOG ? SC_ALLOW : kind;
}

/*
 * Compares the shadow's verdict with the one in force (enforced_kind/enforced_errno, as the binding applies it: audit
 * mode runs every syscall) and reports a difference: one stops a syscall the other runs, or they stop it differently.
 * A global function, so the verifier checks it once on its own. As a static function it was checked again for every
 * state of each of its two callers: that was three quarters of sys_enter's verification, ~700 of ~790 ms of loading
 * the engine's object on the development host (docs/performance.md). Global functions take scalars and pointers to
 * memory the verifier must assume may be NULL, hence the plain arguments and the check on view. Returns 1 when it
 * reported a difference.
 */
__noinline int shadow_compare(__u64 bound_cgroup, __u32 mode, struct syscall_view *view, __u32 enforced_kind,
			      __u32 enforced_errno)
{
	struct shadow *shadow = bpf_map_lookup_elem(&shadows, &bound_cgroup);
	struct decision verdict = {};
	__u8 in_force, would;
	__u16 flags = SC_EVENT_SHADOW;

	if (!shadow || !view)
		return 0;
	in_force = mode == SC_MODE_AUDIT ? SC_ALLOW : shadow_outcome(enforced_kind);
	/* the common case, run by both, costs the shadow's bitmap lookup only */
	if (in_force == SC_ALLOW && allowed_unconditionally(shadow->slot, view))
		return 0;
	evaluate(shadow->slot, view, &verdict);
	would = shadow_outcome(verdict.action.kind);
	if (would == in_force && (in_force != SC_ERRNO || verdict.action.data == enforced_errno))
		return 0;
	__sync_fetch_and_add(&shadow->differences, 1);
	if (would != SC_ALLOW)
		__sync_fetch_and_add(&shadow->denials, 1);
	if (verdict.action.flags & SC_ACTION_DEGRADED)
		flags |= SC_EVENT_DEGRADED;
	emit_event(current_config(), bound_cgroup, mode, view, &verdict, flags);
	return 1;
}

#endif
