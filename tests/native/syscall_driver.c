// SPDX-License-Identifier: MIT
/*
 * syscall-driver: a test process for the BPF enforcement tests.
 *
 *   syscall-driver <cgroup-dir> <command>...
 *
 * Moves itself into <cgroup-dir>, prints "ready <pid> <tid>", waits for a line on
 * stdin (the go signal, sent once the profile is bound), then runs the commands
 * in order and exits 0. After the go signal it makes no syscall other than the
 * commands' own (and exit_group), so tests can reason about every decision.
 * A command that fails exits with 100 + errno instead.
 *
 * Commands:
 *   getppid:<n>               n x syscall(getppid, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666)
 *   thread-getppid            the same once, from a second thread (tid != pid)
 *   write:<fd>:<len>          syscall(write, fd, buf, len), fd and len as full 64-bit values
 *                             (fd 5 is /dev/null)
 *   prctl                     prctl(PR_GET_DUMPABLE)
 *   unlink:<path>             unlinkat(AT_FDCWD, path, 0)
 *   personality:<v>           syscall(personality, v), v a full 64-bit value (0xffffffff: a query, changes nothing)
 *   getppid-seq:<n>           syscall(getppid, k) for k = 0 .. n-1 (n distinct first arguments)
 *   loop:<tag>[:<pause>]      syscall(getppid, seq, tag) until SIGUSR1, sleeping 1us every <pause>
 *                             calls (0: never); then prints "count <n>"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static char buffer[8192];

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

static void fail(long rc)
{
	if (rc < 0)
		_exit(100 + (errno & 0x7f));
}

static void *thread_getppid(void *arg)
{
	(void)arg;
	syscall(SYS_getppid, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666);
	return NULL;
}

int main(int argc, char **argv)
{
	char path[4096];
	char line[64];
	FILE *procs;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <cgroup-dir> <command>...\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", argv[1]);
	procs = fopen(path, "w");
	if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0) {
		fprintf(stderr, "cannot join %s: %s\n", path, strerror(errno));
		return 3;
	}
	memset(buffer, 'x', sizeof(buffer));
	/* fd 5: somewhere harmless for writes to "other" descriptors */
	int devnull = open("/dev/null", O_WRONLY);
	if (devnull < 0 || dup2(devnull, 5) < 0)
		return 5;
	signal(SIGUSR1, on_usr1);
	printf("ready %d %ld\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 4;

	for (int i = 2; i < argc; i++) {
		char *cmd = argv[i];

		if (!strncmp(cmd, "getppid:", 8)) {
			long n = strtol(cmd + 8, NULL, 0);
			for (long k = 0; k < n; k++)
				syscall(SYS_getppid, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666);
		} else if (!strcmp(cmd, "thread-getppid")) {
			pthread_t thread;
			if (pthread_create(&thread, NULL, thread_getppid, NULL) != 0)
				_exit(99);
			pthread_join(thread, NULL);
		} else if (!strncmp(cmd, "write:", 6)) {
			char *end;
			uint64_t fd = strtoull(cmd + 6, &end, 0);
			uint64_t len = strtoull(end + 1, NULL, 0);
			fail(syscall(SYS_write, fd, buffer, len));
		} else if (!strcmp(cmd, "prctl")) {
			fail(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
		} else if (!strncmp(cmd, "unlink:", 7)) {
			fail(syscall(SYS_unlinkat, AT_FDCWD, cmd + 7, 0));
		} else if (!strncmp(cmd, "personality:", 12)) {
			fail(syscall(SYS_personality, strtoull(cmd + 12, NULL, 0)));
		} else if (!strncmp(cmd, "getppid-seq:", 12)) {
			long n = strtol(cmd + 12, NULL, 0);
			for (long k = 0; k < n; k++)
				syscall(SYS_getppid, k, 0, 0, 0, 0, 0);
		} else if (!strncmp(cmd, "loop:", 5)) {
			char *end;
			uint64_t tag = strtoull(cmd + 5, &end, 0);
			long pause_every = *end == ':' ? strtol(end + 1, NULL, 0) : 0;
			struct timespec pause = { 0, 1000 };
			uint64_t seq = 0;
			while (!stop) {
				syscall(SYS_getppid, seq, tag, 0, 0, 0, 0);
				seq++;
				if (pause_every && seq % pause_every == 0)
					nanosleep(&pause, NULL);
			}
			printf("count %llu\n", (unsigned long long)seq);
			fflush(stdout);
		} else {
			fprintf(stderr, "unknown command %s\n", cmd);
			_exit(2);
		}
	}
	_exit(0);
}
