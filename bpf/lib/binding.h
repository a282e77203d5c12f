/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which container (bound cgroup) the current task belongs to, and the per-task cache that answers it for
 * almost every syscall: a task's answer only changes when the task moves to another cgroup or when some
 * binding changes, so it is kept in task-local storage with the cgroup id and the binding generation it was
 * computed for (docs/enforcement.md, "Decision at sys_enter", says why this and not the alternatives).
 */
#ifndef __SC_BINDING_H
#define __SC_BINDING_H

#define SC_MAX_CGROUP_LEVEL 64

/* The current task's binding as of (generation, cgroup). BPF-only: the engine never reads it. */
struct task_binding {
	__u64 generation;   /* binding_generation_now() when computed; ~0: never computed */
	__u64 cgroup;       /* the task's cgroup v2 id when computed */
	__u64 bound_cgroup; /* 0: not managed */
	struct binding binding;
	__u32 verdict_maybe_pending; /* hand_verdict ran since the last drop_stale_verdict */
};

/* Per task, freed with the task; not pinned: it lives as long as the programs that use it. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_binding);
} task_bindings SEC(".maps");

/*
 * Changes with every change of `bindings`: the engine's count plus the BPF programs' count (two entries, so the
 * engine's whole-value writes never lose an atomic add from BPF). Read before `bindings` is looked up, so an answer
 * computed while a change was being made carries the old generation and is recomputed at the next syscall.
 */
static __always_inline __u64 binding_generation_now(void)
{
	__u32 engine_key = SC_GEN_ENGINE, bpf_key = SC_GEN_BPF;
	__u64 *engine = bpf_map_lookup_elem(&binding_generation, &engine_key);
	__u64 *bpf = bpf_map_lookup_elem(&binding_generation, &bpf_key);

	return (engine ? *engine : 0) + (bpf ? *bpf : 0);
}

/*
 * Any BPF code that inserts, replaces or deletes a `bindings` entry must call this right AFTER the map write
 * (the engine does the same in user space): running tasks' cached answers are recomputed at their next syscall.
 * Bumping before the write would let a task cache the old answer under the new generation.
 */
static __always_inline void bindings_changed(void)
{
	__u32 key = SC_GEN_BPF;
	__u64 *generation = bpf_map_lookup_elem(&binding_generation, &key);

	if (generation)
		__sync_fetch_and_add(generation, 1);
}

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
 * The full lookup, on a cache miss: the task's own cgroup first (one hash lookup);
 * then its ancestors, so a process in a descendant cgroup of a bound one is covered.
 * The deepest bound ancestor wins, as a nested container's binding should.
 */
static __always_inline struct binding *find_binding(struct sc_settings *cfg, __u64 cgroup, __u64 *bound_cgroup)
{
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

/*
 * The current task's binding: from its cache when the task's cgroup and the binding generation are those the
 * cache was computed for, else looked up and cached. Returns false for an unmanaged task; *cache is the task's
 * cache entry, NULL when task storage was unavailable (then every syscall takes the full lookup).
 */
static __always_inline bool current_binding(struct task_struct *task, struct task_binding **cache_out,
					    struct binding *binding, __u64 *bound_cgroup)
{
	__u64 generation = binding_generation_now();
	__u64 cgroup = bpf_get_current_cgroup_id();
	struct task_binding *cache = bpf_task_storage_get(&task_bindings, task, 0, 0);
	struct binding *found;

	*cache_out = cache;
	if (cache && cache->generation == generation && cache->cgroup == cgroup) {
		if (!cache->bound_cgroup)
			return false;
		*binding = cache->binding;
		*bound_cgroup = cache->bound_cgroup;
		return true;
	}

	count(SC_CNT_LOOKUPS);
	if (!cache) {
		/* a verdict may be pending from before the cache existed: check once */
		struct task_binding fresh = { .generation = ~0ULL, .verdict_maybe_pending = 1 };

		cache = bpf_task_storage_get(&task_bindings, task, &fresh, BPF_LOCAL_STORAGE_GET_F_CREATE);
		*cache_out = cache;
	}
	found = find_binding(current_config(), cgroup, bound_cgroup);
	if (found)
		*binding = *found;
	if (cache) {
		cache->generation = generation;
		cache->cgroup = cgroup;
		cache->bound_cgroup = found ? *bound_cgroup : 0;
		if (found)
			cache->binding = *binding;
	}
	return found != NULL;
}

#endif
