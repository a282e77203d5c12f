/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Copyright (c) SeccompEbpf authors */
/*
 * Structures shared by the BPF programs and the C# engine
 * (plugin/SeccompEbpf.Bpf/Interop/MapLayouts.cs mirrors them byte for byte;
 * a test checks the sizes against this object's BTF).
 */
#ifndef __SECCOMP_H
#define __SECCOMP_H

#define SC_MAX_RULES_PER_SYSCALL 512 /* rule entries per syscall: bound of the rule loop; the engine refuses more */
#define SC_RULE_CONTINUES 0x80000000u /* rule_value.check_count: this entry's checks AND the next entry's (rules over 6 checks) */
#define SC_MAX_CHECKS 6             /* seccomp has six arguments */
#define SC_HASH_LEN 64              /* lower-case hex SHA-256 */
#define SC_NO_ENOSYS 0xffffffffu    /* arch_value.enosys_from_nr when not applicable */

/* SeccompAction in SeccompEbpf.Profiles.Compiled, kernel precedence order. */
enum sc_action_kind {
	SC_ALLOW = 0,
	SC_LOG = 1,
	SC_TRACE = 2,
	SC_NOTIFY = 3,
	SC_ERRNO = 4,
	SC_TRAP = 5,
	SC_KILL_THREAD = 6,
	SC_KILL_PROCESS = 7,
};

/* sc_action.flags */
#define SC_ACTION_DEGRADED 0x01 /* the engine replaced the profile's action (see the binding report) */
#define SC_ACTION_PREVENT 0x02  /* an LSM hook reached by this syscall carries the verdict */

struct sc_action {
	__u8 kind;
	__u8 flags;
	__u16 data; /* errno for ERRNO */
};

enum sc_mode {
	SC_MODE_ENFORCE = 0,
	SC_MODE_AUDIT = 1, /* every non-ALLOW action is logged instead of applied */
};

/* bindings: bound cgroup v2 id -> binding */
struct binding {
	__u32 slot;
	__u8 mode;
	__u8 flags; /* SC_BINDING_* */
	__u16 level; /* depth of the bound cgroup below the cgroup2 root */
};

#define SC_BINDING_FROM_GATE 0x1 /* written by the exec gate (SC_GATE_PROFILE), not by a daemon */
#define SC_BINDING_RECORDING 0x2 /* sys_enter sets the syscall's bit in recordings[bound cgroup] */
#define SC_BINDING_SHADOW 0x4    /* sys_enter also evaluates shadows[bound cgroup].slot and reports where it differs */
#define SC_BINDING_RECORD_ARGS 0x8 /* with RECORDING: sys_enter also records chosen arguments in record_args[bound cgroup] */

/* slots: profile slot -> what is true of the whole profile */
struct slot_value {
	struct sc_action bad_arch_action;
	__u32 syscall_entries;
	__u32 rule_entries;
	__u32 arch_entries;
	__u32 variant; /* 0: enforced as compiled; 1: degraded to KILL; 2: degraded to LOG; 3: audit */
	char hash[SC_HASH_LEN];
};

struct arch_key {
	__u32 slot;
	__u32 audit_arch;
};

struct arch_value {
	struct sc_action default_action;
	struct sc_action enosys_action; /* ERRNO(ENOSYS), or its degraded form */
	__u32 enosys_from_nr;           /* SC_NO_ENOSYS: none */
};

struct syscall_key {
	__u32 slot;
	__u32 audit_arch;
	__u32 nr;
};

struct syscall_value {
	struct sc_action fallback;
	__u32 rule_count;
	__u32 first_rule;
};

struct rule_key {
	__u32 slot;
	__u32 index;
};

/* CompareOp in SeccompEbpf.Profiles.Compiled */
enum sc_op {
	SC_OP_NE = 1,
	SC_OP_LT = 2,
	SC_OP_LE = 3,
	SC_OP_EQ = 4,
	SC_OP_GE = 5,
	SC_OP_GT = 6,
	SC_OP_MASKED_EQ = 7,
};

struct arg_check {
	__u64 value;
	__u64 datum;
	__u8 index;
	__u8 op;
	__u8 pad[6];
};

struct rule_value {
	struct arg_check checks[SC_MAX_CHECKS];
	__u32 check_count;
	struct sc_action action;
};

/*
 * allow_bitmaps: slot * 2 + (i386 ? 1 : 0) -> one bit per syscall number below SC_ALLOW_BITMAP_NRS that the slot
 * allows unconditionally (what evaluate() would answer ALLOW without a rule). All zero: evaluate() decides.
 */
#define SC_ALLOW_BITMAP_NRS 512
#define SC_ALLOW_BITMAP_SLOTS 4096 /* = slots' max_entries */

struct allow_bitmap {
	__u64 bits[SC_ALLOW_BITMAP_NRS / 64];
};

/*
 * recordings: bound cgroup id -> the syscalls its tasks attempted since recording started (lib/record.h), one bit per
 * number below SC_RECORD_NRS per table: x86_64, i386 (compat), x32 (number without bit 0x40000000). Whatever the
 * policy decides (denied syscalls were attempted too).
 */
#define SC_RECORD_NRS 512
#define SC_RECORD_TABLES 3
#define SC_RECORD_X86_64 0
#define SC_RECORD_I386 1
#define SC_RECORD_X32 2

struct recording {
	__u64 bits[SC_RECORD_TABLES * SC_RECORD_NRS / 64];
	__u64 out_of_range; /* non-zero: some syscall number at or above SC_RECORD_NRS was attempted (not in bits) */
};

/*
 * record_args: bound cgroup id -> the distinct values of one argument of a few chosen syscalls (`record --with-args`,
 * lib/record.h). A map of its own, not a part of struct recording: the engine starts it (writes a whole value) on a
 * container that records already without racing the kernel's updates of the bitmap it keeps. Each slot names one
 * syscall (its number per table, SC_RECORD_ARG_NONE where the ABI lacks it) and one argument index, and holds up to
 * SC_RECORD_ARG_VALUES values in a fixed array: bounded memory, a bounded scan, no map growth per value. A value
 * claims an entry (claimed, an atomic counter), is written, then published (its bit in ready); readers and the scan
 * only trust ready entries. Two CPUs seeing the same new value at once may both claim an entry (a duplicate the
 * reader folds); a claim past the array sets overflow, after which the set is incomplete and must not restrict.
 */
#define SC_RECORD_ARG_SLOTS 4
#define SC_RECORD_ARG_VALUES 16
#define SC_RECORD_ARG_NONE 0xffffffffu

struct record_arg_slot {
	__u32 nr[SC_RECORD_TABLES]; /* per SC_RECORD_* table (x32 without its bit); SC_RECORD_ARG_NONE: no such syscall */
	__u32 index;                /* the argument, 0..5 */
	/* 64-bit, as BPF atomics on 32-bit words need -mcpu=v3, which this object does not assume */
	__u64 claimed;              /* entries of values claimed so far (may pass SC_RECORD_ARG_VALUES: then overflow) */
	__u64 ready;                /* bit i: values[i] is written */
	__u64 overflow;             /* non-zero: more distinct values were seen than values holds */
	__u64 values[SC_RECORD_ARG_VALUES];
};

struct record_args {
	struct record_arg_slot slots[SC_RECORD_ARG_SLOTS];
};

/*
 * shadows: bound cgroup id -> a second profile evaluated on the same syscalls, never applied (lib/shadow.h,
 * docs/shadow.md). Where its verdict differs from the one in force (it would stop a syscall the other runs, or the
 * reverse, or stop it differently), sys_enter counts it here and emits an event
 * flagged SC_EVENT_SHADOW carrying the shadow's action. The engine writes whole values (a new slot resets the counts);
 * BPF adds atomically.
 */
struct shadow {
	__u32 slot;
	__u32 pad;
	__u64 differences; /* syscalls one verdict stops and the other runs, or both stop differently (LOG runs as ALLOW) */
	__u64 denials;     /* of those, the ones the shadow would have stopped (TRACE, NOTIFY, ERRNO, TRAP, KILL) */
};

/*
 * binding_generation[SC_GEN_ENGINE] is bumped by the engine, [SC_GEN_BPF] by BPF programs (bindings_changed()),
 * after any change of `bindings`; their sum changes with every change, so a per-task cached answer keyed by it is
 * never stale. Two entries because the engine writes whole values and BPF adds atomically.
 */
#define SC_GEN_ENGINE 0
#define SC_GEN_BPF 1

/* settings[0]: settings the engine changes at run time */
#define SC_CONFIG_LSM_PREVENTION 0x1 /* LSM programs are attached: hand ERRNO/KILL verdicts to them */

struct sc_settings {
	__u64 binding_levels;   /* bit L set: some binding is a cgroup at level L */
	__u32 events_per_second; /* per bound cgroup; 0: unlimited */
	__u32 flags;
};

/* log_rate: bound cgroup id -> one-second window of emitted events */
struct rate_value {
	__u64 window_start_ns;
	__u64 emitted;
	__u64 dropped;
};

/* pending: pid_tgid -> verdict for the LSM hooks of the syscall now running */
struct verdict {
	__u32 nr;
	__s32 error; /* positive errno */
};

/* Rule field of an event when no conditional rule decided */
#define SC_RULE_FALLBACK 0xffff
#define SC_RULE_DEFAULT 0xfffe
#define SC_RULE_ENOSYS 0xfffd
#define SC_RULE_BAD_ARCH 0xfffc
#define SC_RULE_NO_SLOT 0xfffb

/* event.flags */
#define SC_EVENT_ENFORCED 0x01   /* the action was applied */
#define SC_EVENT_AUDIT_ONLY 0x02 /* audit mode: logged instead of applied */
#define SC_EVENT_DEGRADED 0x04
#define SC_EVENT_PREVENTED 0x08 /* a verdict was handed to the LSM hooks */
#define SC_EVENT_SHADOW 0x10    /* the shadow profile's verdict, which differs from the one in force; nothing was applied */

/*
 * The fail-closed gate (lib/gate.h): what happens to an exec in a container cgroup the daemon has not admitted,
 * while no daemon vouches for the node (down, restarting, or not synchronized with the runtime).
 */
#define SC_GATE_OFF 0
#define SC_GATE_LOG 1       /* the exec proceeds; it is recorded */
#define SC_GATE_DENY_EXEC 2 /* the task is killed before the new image runs a single instruction */
#define SC_GATE_PROFILE 3   /* the kernel binds the cgroup to the fallback profile (gate_fallback) before the image runs */
#define SC_GATE_MAX_PARENTS 4

struct gate_parent {
	__u64 id;    /* cgroup id of a runtime's container cgroup parent (e.g. kubepods, k8s.io) */
	__u32 level; /* its depth below the cgroup2 root */
	__u32 pad;
};

struct gate_config {
	__u32 mode;
	__u32 parents;
	__u64 vouched_until_ns; /* bpf_ktime_get_ns(): the daemon renews it while it follows the runtime */
	struct gate_parent parent[SC_GATE_MAX_PARENTS];
};

/* gate_fallback (array of one): the profile slot the gate binds unadmitted containers to under SC_GATE_PROFILE */
struct gate_fallback {
	__u32 slot; /* 0: none armed; the daemon holds a reference on it while the gate mode is profile */
	__u32 pad;
};

#define SC_GATE_RECORD_BOUND 0x1 /* the gate bound the cgroup to the fallback profile */

struct gate_record {
	__u64 execs;
	__u64 denied;
	__u64 first_ns;
	__u64 last_ns;
	__u32 last_pid;
	__u32 flags; /* SC_GATE_RECORD_* */
	char comm[16];
};

struct sc_event {
	__u64 timestamp_ns; /* bpf_ktime_get_boot_ns */
	__u64 cgroup_id;    /* the task's own cgroup */
	__u64 bound_cgroup_id;
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 audit_arch;
	__u32 nr;
	__u64 args[6];
	__u8 action;
	__u8 mode;
	__u16 data;
	__u16 rule;
	__u16 flags;
	char comm[16];
};

/* counters (per-CPU array) */
enum sc_counter {
	SC_CNT_ACTION_BASE = 0, /* + sc_action_kind: decisions for managed tasks */
	SC_CNT_LOOKUPS = 8, /* binding lookups: per-task cache misses (first syscall, new cgroup, changed bindings) */
	SC_CNT_RESERVED_9 = 9, /* was managed syscalls: the sum of the decisions */
	SC_CNT_EVENTS = 10,
	SC_CNT_RINGBUF_DROPS = 11,
	SC_CNT_RATE_DROPS = 12,
	SC_CNT_LSM_DENIALS = 13,
	SC_CNT_SIGNALS = 14,
	SC_CNT_AUDITED = 15,
	SC_CNT_NO_SLOT = 16,
	SC_CNT_RULES_TRUNCATED = 17,
	SC_CNT_SIGNAL_FAILURES = 18,
	SC_CNT_MAX = 19,
};

#endif /* __SECCOMP_H */
