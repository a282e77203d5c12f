/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The seccomp view of the current syscall and the decision procedure of
 * plugin/SeccompEbpf.Profiles/Compiled/CompiledProfile.cs, step for step.
 */
#ifndef __SC_EVALUATE_H
#define __SC_EVALUATE_H

#define AUDIT_ARCH_X86_64 0xC000003Eu
#define AUDIT_ARCH_I386 0x40000003u
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: ia32 syscall in progress */
#define ENOSYS_ERRNO 38

struct syscall_view {
	__u32 audit_arch;
	__u32 nr; /* as seccomp_data.nr: x32 keeps bit 0x40000000 */
	bool compat;
	bool args_loaded;
	struct pt_regs *regs;
	__u64 args[6];
};

struct decision {
	struct sc_action action;
	__u16 rule;
};

static __always_inline void build_view(struct task_struct *task, struct pt_regs *regs, long id, struct syscall_view *view)
{
	view->nr = (__u32)id;
	view->regs = regs;
	/* int 0x80 / sysenter: i386 numbers and registers, never the x86_64 table */
	view->compat = task->thread_info.status & TS_COMPAT;
	view->audit_arch = view->compat ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
}

/* The arguments cost seven reads of user registers: only for rules and events. */
static __always_inline void load_args(struct syscall_view *view)
{
	struct pt_regs *regs = view->regs;

	if (view->args_loaded)
		return;
	view->args_loaded = true;
	if (view->compat) {
		view->args[0] = (__u32)BPF_CORE_READ(regs, bx);
		view->args[1] = (__u32)BPF_CORE_READ(regs, cx);
		view->args[2] = (__u32)BPF_CORE_READ(regs, dx);
		view->args[3] = (__u32)BPF_CORE_READ(regs, si);
		view->args[4] = (__u32)BPF_CORE_READ(regs, di);
		view->args[5] = (__u32)BPF_CORE_READ(regs, bp);
	} else {
		view->args[0] = BPF_CORE_READ(regs, di);
		view->args[1] = BPF_CORE_READ(regs, si);
		view->args[2] = BPF_CORE_READ(regs, dx);
		view->args[3] = BPF_CORE_READ(regs, r10);
		view->args[4] = BPF_CORE_READ(regs, r8);
		view->args[5] = BPF_CORE_READ(regs, r9);
	}
}

static __always_inline bool check_holds(const struct arg_check *check, const __u64 *args)
{
	__u8 index = check->index;
	__u64 arg;

	if (index >= 6)
		return false;
	arg = args[index];
	switch (check->op) {
	case SC_OP_NE:
		return arg != check->value;
	case SC_OP_LT:
		return arg < check->value;
	case SC_OP_LE:
		return arg <= check->value;
	case SC_OP_EQ:
		return arg == check->value;
	case SC_OP_GE:
		return arg >= check->value;
	case SC_OP_GT:
		return arg > check->value;
	case SC_OP_MASKED_EQ:
		return (arg & check->value) == check->datum;
	default:
		return false; /* the engine never writes other ops */
	}
}

static __always_inline bool rule_holds(const struct rule_value *rule, const __u64 *args)
{
	__u32 count = rule->check_count & ~SC_RULE_CONTINUES;

	for (int i = 0; i < SC_MAX_CHECKS; i++) {
		if (i >= count)
			break;
		if (!check_holds(&rule->checks[i], args))
			return false;
	}
	return true;
}

/* State of one walk over a syscall's rule entries (bpf_loop's context: on the caller's stack). */
struct rule_walk {
	__u64 args[6];
	__u32 slot;
	__u32 first_rule;
	__u32 entry_count;
	__u32 holds; /* every entry of the current rule so far held */
	__u32 matched;
	__u16 rule_index;
	struct sc_action action;
};

/*
 * One rule entry. A rule with more than six checks spans consecutive entries, each but the last marked
 * SC_RULE_CONTINUES; the first rule whose entries all hold decides. Returns 1 to stop the walk.
 */
static long walk_rule_entry(__u32 i, struct rule_walk *walk)
{
	struct rule_key key = { .slot = walk->slot, .index = walk->first_rule + i };
	struct rule_value *rule;

	if (i >= walk->entry_count)
		return 1;
	rule = bpf_map_lookup_elem(&rules, &key);
	if (!rule)
		return 1;
	/* once a part fails, the rest of that rule need not be checked */
	if (walk->holds)
		walk->holds = rule_holds(rule, walk->args);
	if (rule->check_count & SC_RULE_CONTINUES)
		return 0;
	if (walk->holds) {
		walk->action = rule->action;
		walk->matched = 1;
		return 1;
	}
	walk->holds = 1;
	walk->rule_index++;
	return 0;
}

/*
 * Ordered rules of one syscall: the first whose checks all hold decides; out->rule is the rule's index, not the
 * entry's. bpf_loop keeps the verifier's work independent of how many entries a syscall may have.
 */
static __always_inline bool first_matching_rule(__u32 slot, __u32 first_rule, __u32 entry_count,
						struct syscall_view *view, struct decision *out)
{
	struct rule_walk walk = { .slot = slot, .first_rule = first_rule, .entry_count = entry_count, .holds = 1 };

	load_args(view);
	__builtin_memcpy(walk.args, view->args, sizeof(walk.args));
	bpf_loop(entry_count < SC_MAX_RULES_PER_SYSCALL ? entry_count : SC_MAX_RULES_PER_SYSCALL, walk_rule_entry, &walk, 0);
	if (!walk.matched)
		return false;
	out->action = walk.action;
	out->rule = walk.rule_index;
	return true;
}

/*
 * The fast answer for a managed task: one inlined array lookup says whether the slot allows this syscall
 * unconditionally. The engine derives the bits from the very entries evaluate() reads (EnforcementEngine.Slots.cs,
 * AllowBitmapOf), so a set bit means evaluate() would answer ALLOW; a clear bit or a number beyond the bitmap
 * (x32, -1) only means "ask evaluate()".
 */
static __always_inline bool allowed_unconditionally(__u32 slot, const struct syscall_view *view)
{
	__u32 key = slot * 2 + (view->compat ? 1 : 0);
	struct allow_bitmap *bitmap;
	__u64 nr = view->nr; /* 64-bit: a zero-extended 32-bit copy would carry the bound check, not the register indexed */

	if (nr >= SC_ALLOW_BITMAP_NRS)
		return false;
	bitmap = bpf_map_lookup_elem(&allow_bitmaps, &key);
	if (!bitmap)
		return false;
	return (bitmap->bits[nr / 64] >> (nr % 64)) & 1;
}

/*
 * The profile's verdict on the syscall, into *out. A global function, verified once on its own rather than inlined and
 * verified again for every state of its callers (sys_enter and shadow_compare): 112 -> 34 ms of sys_enter's verification
 * on the development host (docs/performance.md, "The verifier"). It costs a BPF-to-BPF call on the syscalls the allow
 * bitmap does not answer. Its pointers are memory the verifier must assume may be NULL, so they are checked before any
 * read; the return value (0) is only there because a global function returns a scalar.
 */
__noinline int evaluate(__u32 slot, struct syscall_view *view, struct decision *out)
{
	struct arch_key akey = { .slot = slot };
	struct syscall_key skey = { .slot = slot };
	struct slot_value *profile = bpf_map_lookup_elem(&slots, &slot);
	struct arch_value *arch;
	struct syscall_value *sys;

	if (!view || !out)
		return 0;
	akey.audit_arch = view->audit_arch;
	skey.audit_arch = view->audit_arch;
	skey.nr = view->nr;
	if (!profile) {
		/* never happens while the engine switches bindings before freeing slots */
		count(SC_CNT_NO_SLOT);
		out->action = (struct sc_action){ .kind = SC_ALLOW };
		out->rule = SC_RULE_NO_SLOT;
		return 0;
	}
	arch = bpf_map_lookup_elem(&arch_policy, &akey);
	if (!arch) {
		out->action = profile->bad_arch_action;
		out->rule = SC_RULE_BAD_ARCH;
		return 0;
	}
	sys = bpf_map_lookup_elem(&syscall_policy, &skey);
	if (sys) {
		if (sys->rule_count > SC_MAX_RULES_PER_SYSCALL)
			count(SC_CNT_RULES_TRUNCATED);
		if (sys->rule_count && first_matching_rule(slot, sys->first_rule, sys->rule_count, view, out))
			return 0;
		out->action = sys->fallback;
		out->rule = SC_RULE_FALLBACK;
		return 0;
	}
	if (view->nr >= arch->enosys_from_nr) {
		out->action = arch->enosys_action;
		out->rule = SC_RULE_ENOSYS;
		return 0;
	}
	out->action = arch->default_action;
	out->rule = SC_RULE_DEFAULT;
	return 0;
}

#endif
