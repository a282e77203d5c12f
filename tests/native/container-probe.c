// container-probe: a static program baked into the E2E test image. It performs one syscall in a loop and prints
// one line per call, so a test can see from the container's log what SeccompEbpf did to it.
//
//   container-probe SYSCALL INTERVAL_MS [COUNT]
//   SYSCALL: getppid | getpid | uname | personality-query | personality-rie | mkdir-tmp | unshare-user
// Output: "<n> <syscall> ret=<value> errno=<errno>"; COUNT 0 (default) loops forever.
// unshare-user prints ret=-99 when the call failed and yet left the process in a new user namespace.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static long call(const char *name)
{
    static struct utsname uts;
    if (strcmp(name, "getppid") == 0)
        return syscall(SYS_getppid);
    if (strcmp(name, "getpid") == 0)
        return syscall(SYS_getpid);
    if (strcmp(name, "uname") == 0)
        return syscall(SYS_uname, &uts);
    if (strcmp(name, "personality-query") == 0)
        return syscall(SYS_personality, 0xffffffffUL);
    /* READ_IMPLIES_EXEC: a persona Docker's default profile (runtime/default) does not allow */
    if (strcmp(name, "personality-rie") == 0)
        return syscall(SYS_personality, 0x0400000UL);
    if (strcmp(name, "unshare-user") == 0) {
        struct stat before, after;
        if (stat("/proc/self/ns/user", &before) != 0)
            return -98;
        long r = syscall(SYS_unshare, CLONE_NEWUSER);
        int saved = errno;
        if (stat("/proc/self/ns/user", &after) != 0)
            return -98;
        if (r != 0 && after.st_ino != before.st_ino)
            return -99;
        errno = saved;
        return r;
    }
    if (strcmp(name, "mkdir-tmp") == 0) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/probe-%ld", (long)random());
        long r = syscall(SYS_mkdirat, -100 /* AT_FDCWD */, path, 0700);
        if (r == 0)
            rmdir(path);
        return r;
    }
    fprintf(stderr, "container-probe: unknown syscall %s\n", name);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: container-probe SYSCALL INTERVAL_MS [COUNT]\n");
        return 2;
    }
    long interval_ms = atol(argv[2]);
    long count = argc > 3 ? atol(argv[3]) : 0;
    struct timespec pause = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long n = 1; count == 0 || n <= count; n++) {
        errno = 0;
        long ret = call(argv[1]);
        printf("%ld %s ret=%ld errno=%d\n", n, argv[1], ret, ret < 0 ? errno : 0);
        if (interval_ms > 0)
            nanosleep(&pause, NULL);
    }
    return 0;
}
