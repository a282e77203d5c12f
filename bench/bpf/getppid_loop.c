// SPDX-License-Identifier: MIT
/*
 * getppid-loop: the per-syscall cost of a tight getppid loop.
 *
 *   getppid-loop <cgroup-dir|-> <iterations> [--seccomp]
 *
 * Joins the cgroup (unless "-"), optionally installs the kernel's own seccomp filter for
 * the Docker-sized profile (built with libseccomp, the same profile the engine binds),
 * then prints "ns_per_call <value>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int install_docker_sized_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(1));
	int rc = 0;

	if (!ctx)
		return -ENOMEM;
	for (int nr = 0; nr < 335 && rc == 0; nr++) {
		if (nr == 56) /* clone: Docker's namespace-flag rule */
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0x7E020000, 0));
		else if (nr == 135) { /* personality */
			unsigned long allowed[] = { 0, 8, 0x20000, 0x20008, 0xffffffff };
			for (int i = 0; i < 5 && rc == 0; i++)
				rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, allowed[i]));
		} else
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	for (int nr = 424; nr < 440 && rc == 0; nr++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	struct timespec start, end;
	long iterations;

	if (argc < 3) {
		fprintf(stderr, "usage: %s <cgroup-dir|-> <iterations> [--seccomp]\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "-") != 0) {
		char path[4096];
		FILE *procs;

		snprintf(path, sizeof(path), "%s/cgroup.procs", argv[1]);
		procs = fopen(path, "w");
		if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0) {
			fprintf(stderr, "cannot join %s: %s\n", path, strerror(errno));
			return 3;
		}
	}
	iterations = strtol(argv[2], NULL, 0);
	if (argc > 3 && !strcmp(argv[3], "--seccomp")) {
		int rc = install_docker_sized_filter();
		if (rc) {
			fprintf(stderr, "seccomp filter: %s\n", strerror(-rc));
			return 4;
		}
	}
	/* explicit zero arguments: the benchmark's argument rules must see the same values every call */
	for (long i = 0; i < iterations / 10; i++) /* warm up */
		syscall(SYS_getppid, 0, 0, 0, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < iterations; i++)
		syscall(SYS_getppid, 0, 0, 0, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("ns_per_call %.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / iterations);
	return 0;
}
