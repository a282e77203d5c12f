/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which container (bound cgroup) the current task belongs to. */
#ifndef __SC_BINDING_H
#define __SC_BINDING_H

#define SC_MAX_CGROUP_LEVEL 64

/*
 * The deepest bound ancestor of the current task's cgroup, or 0. Only levels
 * where some binding exists are tried. A global function: the verifier checks
 * it once, with scalars only, instead of once per caller state.
 */
__noinline __u64 bound_ancestor(__u64 levels, __u64 cgroup)
{
	__u64 found = 0;

	for (__u32 level = 0; level < SC_MAX_CGROUP_LEVEL; level++) {
		__u64 ancestor;

		if (!(levels & (1ULL << level)))
			continue;
		ancestor = bpf_get_current_ancestor_cgroup_id(level);
		/* 0: the task's cgroup is shallower than this level */
		if (!ancestor || ancestor == cgroup)
			break;
		if (bpf_map_lookup_elem(&bindings, &ancestor))
			found = ancestor;
	}
	return found;
}

/*
 * The task's own cgroup first (one hash lookup: the fast miss for unmanaged
 * tasks); then its ancestors, so a process in a descendant cgroup of a bound
 * one is covered. The deepest bound ancestor wins, as a nested container's
 * binding should.
 */
static __always_inline struct binding *find_binding(struct sc_settings *cfg, __u64 *bound_cgroup)
{
	__u64 cgroup = bpf_get_current_cgroup_id();
	struct binding *found = bpf_map_lookup_elem(&bindings, &cgroup);
	__u64 ancestor;

	*bound_cgroup = cgroup;
	if (found || !cfg || !cfg->binding_levels)
		return found;
	ancestor = bound_ancestor(cfg->binding_levels, cgroup);
	if (!ancestor)
		return NULL;
	*bound_cgroup = ancestor;
	/* looked up again: the binding may have gone meanwhile, then the task is unmanaged */
	return bpf_map_lookup_elem(&bindings, &ancestor);
}

#endif
