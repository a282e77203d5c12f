// SPDX-License-Identifier: MIT
/*
 * syscall-batch: runs a batch of raw syscalls with arbitrary 64-bit arguments, for the
 * differential tests of the BPF engine (tests/SeccompEbpf.Bpf.Tests/BpfDifferentialTests.cs).
 *
 *   syscall-batch <batch-file>
 *
 * The batch file (little-endian, written by the test, mapped shared so results need no syscall):
 *   u64 magic "SCBATCH1", u64 count, u64 completed (written here), u64 reserved,
 *   count x { u64 nr, u64 args[6] }            the cases
 *   count x { i64 ret, i64 errno }             the results (written here)
 *
 * Before the go signal the process arranges its descriptors like the child of tests/native/seccomp-oracle.c
 * (0-2 /dev/null, 3 the write end and 4 the read end of a non-blocking pipe, the rest closed), so the same
 * case returns the same value under both; the go channel is fd 900 (the original stdin), and
 * "ready <pid>" goes to the original stdout (fd 901), which is then closed. It then blocks in read(900): the test
 * moves it into the bound cgroup while it is blocked (so none of the set-up is judged), binds, and writes
 * one byte. After that the process makes no syscall but the cases, then exit_group (and exit); it stores
 * each result and bumps "completed" after each case, so a process killed by a case shows which one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GO_FD 900
#define READY_FD 901
#define MAGIC 0x3148435441424353ull /* "SCBATCH1" */

struct header {
	uint64_t magic, count, completed, reserved;
};
struct batch_case {
	uint64_t nr, args[6];
};
struct batch_result {
	int64_t ret, err;
};

int main(int argc, char **argv)
{
	struct stat st;
	char ready[64];
	char go;

	if (argc != 2) {
		fprintf(stderr, "usage: %s <batch-file>\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "cannot open %s: %s\n", argv[1], strerror(errno));
		return 3;
	}
	struct header *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", argv[1], strerror(errno));
		return 3;
	}
	close(fd);
	if (h->magic != MAGIC || (uint64_t)st.st_size != sizeof(*h) + h->count * (sizeof(struct batch_case) + sizeof(struct batch_result))) {
		fprintf(stderr, "%s is not a batch file of the expected size\n", argv[1]);
		return 3;
	}
	struct batch_case *cases = (struct batch_case *)(h + 1);
	struct batch_result *results = (struct batch_result *)(cases + h->count);
	uint64_t count = h->count;
	/* touch every page now: after the go signal nothing may fault into a syscall-free path we did not plan */
	memset(results, 0, count * sizeof(*results));
	h->completed = 0;

	/* a TRAP case dies by SIGSYS: no core file */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	signal(SIGPIPE, SIG_IGN);

	if (dup2(1, READY_FD) < 0 || dup2(0, GO_FD) < 0)
		return 5;
	int devnull = open("/dev/null", O_RDWR);
	int p[2];
	if (devnull < 0 || pipe2(p, O_NONBLOCK) < 0)
		return 5;
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 || dup2(p[1], 3) < 0 || dup2(p[0], 4) < 0)
		return 5;
	for (int i = 5; i < 64; i++)
		close(i);
	int n = snprintf(ready, sizeof(ready), "ready %d\n", getpid());
	if (write(READY_FD, ready, (size_t)n) != n)
		return 6;
	close(READY_FD);
	if (read(GO_FD, &go, 1) != 1)
		return 4;

	for (uint64_t i = 0; i < count; i++) {
		const uint64_t *a = cases[i].args;
		errno = 0;
		long ret = syscall((long)cases[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		results[i].ret = ret;
		results[i].err = ret < 0 ? errno : 0;
		__atomic_store_n(&h->completed, i + 1, __ATOMIC_RELEASE);
	}
	/* exit_group may itself be denied by the profile; the test kills us once "completed" is full */
	syscall(SYS_exit_group, 0);
	syscall(SYS_exit, 0);
	for (;;) {
	}
}
