// seccomp-oracle: the kernel's own seccomp as a test oracle for the SeccompEbpf profile engine.
//
// Reads profiles and cases on stdin, one item per line, and answers one line per case on stdout:
//   P <defaultAction> <defaultErrnoRet|->          start a profile (SCMP_ACT_* names as in OCI profiles)
//   A <SCMP_ARCH_*>                                 an entry of "architectures"
//   R <action> <errnoRet|-> <nnames> <name>... <nargs> (<index> <SCMP_CMP_*> <value> <valueTwo>)...
//   C <syscall-name> <a0> <a1> <a2> <a3> <a4> <a5>  run one syscall under the profile (decimal u64 args);
//                                                   "#N" instead of a name runs syscall number N (e.g. #-1)
// Answers:
//   ok <ret> <errno> <baseline-ret> <baseline-errno>   the syscall returned (baseline = same call before the filter)
//   sig <signal>                                       the child died by a signal before reporting
//   reject <message>                                   building the filter failed the way runc would fail
//
// The filter is built the way runc 1.1 builds it (libcontainer/seccomp/seccomp_linux.go matchCall and
// patchbpf/enosys_linux.go): rules equal to the default action are skipped, unknown names are skipped, a repeated
// argument index splits the rule into one rule per condition, and the -ENOSYS stub is prepended for non-permissive
// default actions, keyed on the highest syscall number the profile names per listed architecture.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RULES 256
#define MAX_NAMES 512
#define MAX_ARCHES 8

struct rule {
	uint32_t action;
	int nnames;
	char names[MAX_NAMES][64];
	int nargs;
	struct scmp_arg_cmp args[8];
};

static uint32_t default_action;
static int default_errno_is_enosys_action; /* runc compares defaultErrnoRet with SCMP_ACT_ERRNO(ENOSYS) */
static int default_action_permissive;
static char arches[MAX_ARCHES][32];
static int narches;
static struct rule rules[MAX_RULES];
static int nrules;
static int profile_open;
static struct sock_filter *program;
static unsigned short program_len;
static char reject_reason[256];

struct shared_result {
	volatile int done;
	long ret, err, base_ret, base_err;
};
static struct shared_result *shared;

static int parse_action(const char *name, const char *errno_text, uint32_t *out, int *permissive)
{
	int has_errno = strcmp(errno_text, "-") != 0;
	/* runc: int16(*errnoRet), then libseccomp keeps the low 16 bits */
	uint16_t data = has_errno ? (uint16_t)strtoull(errno_text, NULL, 10) : 1;
	*permissive = 0;
	if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) *out = SCMP_ACT_KILL_THREAD;
	else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) *out = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "SCMP_ACT_TRAP")) *out = SCMP_ACT_TRAP;
	else if (!strcmp(name, "SCMP_ACT_ERRNO")) *out = SCMP_ACT_ERRNO(data);
	else if (!strcmp(name, "SCMP_ACT_TRACE")) { *out = SCMP_ACT_TRACE(data); *permissive = 1; }
	else if (!strcmp(name, "SCMP_ACT_ALLOW")) { *out = SCMP_ACT_ALLOW; *permissive = 1; }
	else if (!strcmp(name, "SCMP_ACT_LOG")) { *out = SCMP_ACT_LOG; *permissive = 1; }
	else if (!strcmp(name, "SCMP_ACT_NOTIFY")) *out = SCMP_ACT_NOTIFY;
	else return -1;
	return 0;
}

static int parse_op(const char *name, enum scmp_compare *op)
{
	static const struct { const char *n; enum scmp_compare o; } ops[] = {
		{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
		{"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
		{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(name, ops[i].n)) { *op = ops[i].o; return 0; }
	return -1;
}

/* runc's patchbpf stub for an x86_64 host: ENOSYS above the highest named syscall, per listed ABI. */
static int build_stub(struct sock_filter *stub)
{
	int32_t x86_max = 0, x32_max = 0;
	int has_x86 = 0, has_x32 = 0, n = 0;
	if (default_errno_is_enosys_action || default_action_permissive) return 0;
	for (int a = 0; a < narches; a++) {
		uint32_t arch;
		if (!strcmp(arches[a], "SCMP_ARCH_X86_64")) arch = SCMP_ARCH_X86_64;
		else if (!strcmp(arches[a], "SCMP_ARCH_X32")) arch = SCMP_ARCH_X32;
		else continue; /* i386 tasks cannot be exercised from this 64-bit helper */
		int32_t largest = 0;
		for (int r = 0; r < nrules; r++)
			for (int i = 0; i < rules[r].nnames; i++) {
				int nr = seccomp_syscall_resolve_name_arch(arch, rules[r].names[i]);
				if (nr != __NR_SCMP_ERROR && nr > largest) largest = nr;
			}
		if (largest == 0) continue;
		if (arch == SCMP_ARCH_X86_64) { has_x86 = 1; x86_max = largest; }
		else { has_x32 = 1; x32_max = largest; }
	}
	if (!has_x86 && !has_x32) return 0;
	/* Layout: [0] ld arch; [1] jeq x86_64 else -> filter; [2] ld nr; [3..] checks; then ret ENOSYS; then filter. */
	/* offsets are patched below: ENOSYS at index E, filter start at index F (relative to stub start) */
	stub[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 0xff); /* jf patched */
	stub[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	int first_check = n;
	if (has_x86 && has_x32) {
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 1, 0);
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)x86_max, 0xfe, 0xfd); /* ENOSYS / filter */
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)x32_max, 0xfe, 0xfd);
	} else if (has_x86) {
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 0xfd, 0);
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)x86_max, 0xfe, 0xfd);
	} else {
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 0, 0xfd);
		stub[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)x32_max, 0xfe, 0xfd);
	}
	int enosys = n;
	stub[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SCMP_ACT_ERRNO(ENOSYS));
	int filter = n;
	stub[1].jf = (uint8_t)(filter - 2);
	for (int i = first_check; i < enosys; i++) {
		if (stub[i].jt == 0xfe) stub[i].jt = (uint8_t)(enosys - i - 1);
		if (stub[i].jf == 0xfe) stub[i].jf = (uint8_t)(enosys - i - 1);
		if (stub[i].jt == 0xfd) stub[i].jt = (uint8_t)(filter - i - 1);
		if (stub[i].jf == 0xfd) stub[i].jf = (uint8_t)(filter - i - 1);
	}
	return n;
}

static int build_filter_inner(void)
{
	scmp_filter_ctx ctx = seccomp_init(default_action);
	int rc;
	reject_reason[0] = 0;
	if (ctx == NULL) { snprintf(reject_reason, sizeof(reject_reason), "seccomp_init failed"); return -1; }
	for (int a = 0; a < narches; a++) {
		uint32_t arch = seccomp_arch_resolve_name(arches[a] + strlen("SCMP_ARCH_"));
		if (!strcmp(arches[a], "SCMP_ARCH_X86")) arch = SCMP_ARCH_X86;
		if (!strcmp(arches[a], "SCMP_ARCH_X86_64")) arch = SCMP_ARCH_X86_64;
		if (!strcmp(arches[a], "SCMP_ARCH_X32")) arch = SCMP_ARCH_X32;
		rc = seccomp_arch_add(ctx, arch);
		if (rc < 0 && rc != -EEXIST) { snprintf(reject_reason, sizeof(reject_reason), "seccomp_arch_add %s: %d", arches[a], rc); goto fail; }
	}
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	for (int r = 0; r < nrules; r++) {
		if (rules[r].action == default_action) continue;
		for (int i = 0; i < rules[r].nnames; i++) {
			int nr = seccomp_syscall_resolve_name(rules[r].names[i]);
			if (nr == __NR_SCMP_ERROR) continue;
			if (rules[r].nargs == 0) {
				rc = seccomp_rule_add(ctx, rules[r].action, nr, 0);
			} else {
				int counts[6] = {0}, repeated = 0;
				for (int c = 0; c < rules[r].nargs; c++)
					if (++counts[rules[r].args[c].arg] > 1) repeated = 1;
				if (repeated) {
					rc = 0;
					for (int c = 0; c < rules[r].nargs && rc == 0; c++)
						rc = seccomp_rule_add_array(ctx, rules[r].action, nr, 1, &rules[r].args[c]);
				} else {
					rc = seccomp_rule_add_array(ctx, rules[r].action, nr, rules[r].nargs, rules[r].args);
				}
			}
			if (rc < 0) {
				snprintf(reject_reason, sizeof(reject_reason), "rule %d (%s): %s", r, rules[r].names[i], strerror(-rc));
				goto fail;
			}
		}
	}
	if (getenv("SECCOMP_ORACLE_PFC") != NULL) seccomp_export_pfc(ctx, 2); /* debugging aid: the filter as libseccomp sees it */
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int fds[2];
	if (pipe(fds) < 0) goto fail;
	/* seccomp_export_bpf writes to an fd; a pipe plus a reader loop keeps this portable to 2.5.x */
	pid_t writer = fork();
	if (writer == 0) { close(fds[0]); _exit(seccomp_export_bpf(ctx, fds[1]) < 0 ? 1 : 0); }
	close(fds[1]);
	char chunk[4096];
	ssize_t got;
	while ((got = read(fds[0], chunk, sizeof(chunk))) > 0) fwrite(chunk, 1, (size_t)got, mem);
	close(fds[0]);
	int status;
	waitpid(writer, &status, 0);
	fclose(mem);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { snprintf(reject_reason, sizeof(reject_reason), "seccomp_export_bpf failed"); free(buf); goto fail; }
	struct sock_filter stub[16];
	int nstub = build_stub(stub);
	size_t ninsn = len / sizeof(struct sock_filter);
	free(program);
	program = calloc((size_t)nstub + ninsn, sizeof(struct sock_filter));
	memcpy(program, stub, (size_t)nstub * sizeof(struct sock_filter));
	memcpy(program + nstub, buf, ninsn * sizeof(struct sock_filter));
	program_len = (unsigned short)((size_t)nstub + ninsn);
	if (getenv("SECCOMP_ORACLE_BPF") != NULL) { /* debugging aid: the loaded program, raw */
		FILE *dump = fopen(getenv("SECCOMP_ORACLE_BPF"), "wb");
		if (dump) { fwrite(program, sizeof(struct sock_filter), program_len, dump); fclose(dump); }
	}
	free(buf);
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

/* libseccomp can loop forever on some rule sets; build in a child so a hang becomes a refusal, as it would hang runc. */
static int build_filter(void)
{
	int fds[2];
	if (pipe(fds) < 0) { snprintf(reject_reason, sizeof(reject_reason), "pipe: %s", strerror(errno)); return -1; }
	fflush(stdout);
	pid_t child = fork();
	if (child < 0) { snprintf(reject_reason, sizeof(reject_reason), "fork: %s", strerror(errno)); return -1; }
	if (child == 0) {
		close(fds[0]);
		int rc = build_filter_inner();
		uint32_t header[2] = { rc < 0 ? 1u : 0u, rc < 0 ? (uint32_t)strlen(reject_reason) : program_len };
		if (write(fds[1], header, sizeof(header)) < 0) _exit(3);
		if (rc < 0) { if (write(fds[1], reject_reason, header[1]) < 0) _exit(3); }
		else if (write(fds[1], program, (size_t)program_len * sizeof(struct sock_filter)) < 0) _exit(3);
		_exit(0);
	}
	close(fds[1]);
	int status = 0;
	for (int spins = 0;; spins++) {
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child) break;
		if (spins > 10000) { /* ~5 s */
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			close(fds[0]);
			snprintf(reject_reason, sizeof(reject_reason), "libseccomp did not finish building the filter (runc would hang)");
			return -1;
		}
		usleep(500);
	}
	uint32_t header[2] = { 1, 0 };
	FILE *in = fdopen(fds[0], "rb");
	if (in == NULL || fread(header, sizeof(header), 1, in) != 1) {
		snprintf(reject_reason, sizeof(reject_reason), "filter builder died (status %d)", status);
		if (in) fclose(in);
		return -1;
	}
	if (header[0] != 0) {
		size_t n = header[1] < sizeof(reject_reason) - 1 ? header[1] : sizeof(reject_reason) - 1;
		n = fread(reject_reason, 1, n, in);
		reject_reason[n] = 0;
		fclose(in);
		return -1;
	}
	free(program);
	program_len = (unsigned short)header[1];
	program = calloc(program_len, sizeof(struct sock_filter));
	size_t got = fread(program, sizeof(struct sock_filter), program_len, in);
	fclose(in);
	if (got != program_len) { snprintf(reject_reason, sizeof(reject_reason), "short program read"); return -1; }
	return 0;
}

static void run_case(const char *name, unsigned long long *a)
{
	if (reject_reason[0]) { printf("reject %s\n", reject_reason); return; }
	/* "#N" runs syscall number N as is (e.g. #-1, or an x32 number with bit 0x40000000) */
	int nr = name[0] == '#' ? (int)strtol(name + 1, NULL, 0) : seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR && name[0] != '#') { printf("reject unknown syscall %s\n", name); return; }
	memset((void *)shared, 0, sizeof(*shared));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) { printf("error fork: %s\n", strerror(errno)); return; }
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		int devnull = open("/dev/null", O_RDWR);
		int p[2];
		if (pipe2(p, O_NONBLOCK) < 0) _exit(90);
		dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2);
		dup2(p[1], 3); dup2(p[0], 4);
		for (int fd = 5; fd < 64; fd++) close(fd);
		errno = 0;
		long base = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		long base_err = base < 0 ? errno : 0;
		struct sock_fprog prog = { .len = program_len, .filter = program };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(91);
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) _exit(92);
		errno = 0;
		long ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		shared->ret = ret;
		shared->err = ret < 0 ? errno : 0;
		shared->base_ret = base;
		shared->base_err = base_err;
		shared->done = 1;
		/* exit and exit_group may be denied by the profile; the parent kills us once the result is in */
		syscall(SYS_exit_group, 0);
		syscall(SYS_exit, 0);
		for (;;) {}
	}
	int status = 0;
	for (long spins = 0;; spins++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) break;
		if (w < 0) { printf("error waitpid: %s\n", strerror(errno)); return; }
		/* done, or stuck for ~10 s (a blocking syscall): stop the child */
		if (shared->done || spins > 500000) { kill(pid, SIGKILL); waitpid(pid, &status, 0); break; }
		usleep(20);
	}
	if (shared->done)
		printf("ok %ld %ld %ld %ld\n", shared->ret, shared->err, shared->base_ret, shared->base_err);
	else if (WIFSIGNALED(status))
		printf("sig %d\n", WTERMSIG(status));
	else if (WIFSIGNALED(status) == 0)
		printf("error child exited %d before reporting\n", WEXITSTATUS(status));
}

int main(void)
{
	static char line[1 << 17];
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) { perror("mmap"); return 2; }
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while (fgets(line, sizeof(line), stdin)) {
		char *save = NULL;
		char *tok = strtok_r(line, " \n", &save);
		if (tok == NULL) continue;
		if (!strcmp(tok, "P")) {
			char *act = strtok_r(NULL, " \n", &save), *err = strtok_r(NULL, " \n", &save);
			if (!act || !err || parse_action(act, err, &default_action, &default_action_permissive) < 0) { fprintf(stderr, "bad P line\n"); return 2; }
			default_errno_is_enosys_action = strcmp(err, "-") != 0 && strtoull(err, NULL, 10) == SCMP_ACT_ERRNO(ENOSYS);
			narches = 0; nrules = 0; profile_open = 1; reject_reason[0] = 0;
		} else if (!strcmp(tok, "A")) {
			char *arch = strtok_r(NULL, " \n", &save);
			if (!arch || narches == MAX_ARCHES) { fprintf(stderr, "bad A line\n"); return 2; }
			snprintf(arches[narches++], sizeof(arches[0]), "%s", arch);
		} else if (!strcmp(tok, "R")) {
			struct rule *r = &rules[nrules];
			int permissive;
			char *act = strtok_r(NULL, " \n", &save), *err = strtok_r(NULL, " \n", &save);
			if (nrules == MAX_RULES || !act || !err || parse_action(act, err, &r->action, &permissive) < 0) { fprintf(stderr, "bad R line\n"); return 2; }
			r->nnames = atoi(strtok_r(NULL, " \n", &save));
			if (r->nnames < 0 || r->nnames > MAX_NAMES) { fprintf(stderr, "too many names in R line (max %d)\n", MAX_NAMES); return 2; }
			for (int i = 0; i < r->nnames; i++) snprintf(r->names[i], sizeof(r->names[i]), "%s", strtok_r(NULL, " \n", &save));
			r->nargs = atoi(strtok_r(NULL, " \n", &save));
			if (r->nargs < 0 || r->nargs > 8) { fprintf(stderr, "too many args in R line (max 8)\n"); return 2; }
			for (int i = 0; i < r->nargs; i++) {
				r->args[i].arg = (unsigned)atoi(strtok_r(NULL, " \n", &save));
				if (parse_op(strtok_r(NULL, " \n", &save), &r->args[i].op) < 0) { fprintf(stderr, "bad op\n"); return 2; }
				r->args[i].datum_a = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
				r->args[i].datum_b = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			}
			nrules++;
		} else if (!strcmp(tok, "C")) {
			if (profile_open == 1) {
				if (build_filter() < 0 && !reject_reason[0]) snprintf(reject_reason, sizeof(reject_reason), "filter build failed");
				profile_open = 2;
			}
			char *name = strtok_r(NULL, " \n", &save);
			unsigned long long a[6];
			for (int i = 0; i < 6; i++) a[i] = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			run_case(name, a);
		}
	}
	fflush(stdout);
	return 0;
}
