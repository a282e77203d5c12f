// SPDX-License-Identifier: MIT
/*
 * errno-probe: for tests/SeccompEbpf.Bpf.Tests/ErrnoCoverageTests.cs, runs each syscall of the BPF LSM
 * hook table once, with preconditions that make it reach its hook, and reports what it returned and whether
 * its side effect happened.
 *
 *   errno-probe <workdir> <case>...      case = <syscall>            (control: no cgroup)
 *                                         case = <syscall>=<cgroup-dir> (join that cgroup before the call)
 *
 * Per case the parent forks a child, which (1) sets up in <workdir>/<syscall>/ (files, sockets, a private
 * mount namespace, ...) outside any bound cgroup, (2) joins <cgroup-dir> if given (only the close() of
 * cgroup.procs is judged there), (3) makes the one syscall, (4) checks the side effect with syscalls other
 * than the one under test, and sends the outcome through a pipe. The parent prints one line per case:
 *
 *   result <syscall> <ret> <errno> <effect>     effect: 1 happened, 0 did not, -1 not checkable
 *   setup-failed <syscall> <step> <errno>
 *   died <syscall> <wait-status>
 *   unknown <syscall>
 *
 * Besides the syscall names, the cases open+O_CREAT, openat+O_CREAT and openat2+O_CREAT create a new file.
 * Where a call's only effect is what it returns (listxattr, getsockname, syslog, perf_event_open, ...), the
 * effect is its success; settimeofday sets the current timezone again and sched_setparam the current priority,
 * so that the suite's control run changes nothing on the machine (effect not checkable).
 *
 * Ids are changed to 65534 (nobody) by the setuid/setgid cases so that each call is a real change that
 * reaches task_fix_setuid/task_fix_setgid; the children are disposable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <utime.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; bookworm's headers (6.1) lack it */
#endif

struct outcome {
	int32_t kind; /* 0 result, 1 setup failed */
	int32_t err;
	int64_t ret;
	int32_t effect;
	char step[40];
};

static int report_fd;
static char dir[512], file_a[600], path_b[600], sock_path[600];

static void send_outcome(struct outcome *o)
{
	if (write(report_fd, o, sizeof(*o)) != (ssize_t)sizeof(*o))
		_exit(90);
	_exit(0);
}

static void setup_failed(const char *step)
{
	struct outcome o = { .kind = 1, .err = errno };
	snprintf(o.step, sizeof(o.step), "%s", step);
	send_outcome(&o);
}

#define CHECK(expr, step) do { if ((expr) < 0) setup_failed(step); } while (0)

static int exists(const char *path)
{
	struct stat st;
	return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static dev_t dev_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return (dev_t)-1;
	return st.st_dev;
}

static int make_file(const char *path)
{
	static char page[4096];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	memset(page, 'e', sizeof(page));
	if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
		return -1;
	return fd;
}

static void private_mounts(void)
{
	CHECK(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "mount(MS_PRIVATE)");
}

/* 1 when the mapping at addr is writable per /proc/self/maps, 0 when not, -1 when unknown */
static int mapping_writable(void *addr)
{
	static char maps[65536];
	char want[32];
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t total = 0, n;
	while (total < (ssize_t)sizeof(maps) - 1 && (n = read(fd, maps + total, sizeof(maps) - 1 - total)) > 0)
		total += n;
	close(fd);
	maps[total] = 0;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	for (char *line = maps; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, want, strlen(want))) {
			char *perms = strchr(line, ' ');
			return perms && perms[2] == 'w';
		}
	}
	return -1;
}

/* 1 when /proc/self/fdinfo/<fd> shows all of the given open flags, 0 when not, -1 when unknown */
static int fd_has_flags(int fd, unsigned flags)
{
	char path[64], text[512];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int info = open(path, O_RDONLY);
	if (info < 0)
		return -1;
	ssize_t n = read(info, text, sizeof(text) - 1);
	close(info);
	if (n <= 0)
		return -1;
	text[n] = 0;
	char *line = strstr(text, "flags:");
	if (!line)
		return -1;
	return (strtoul(line + 6, NULL, 8) & flags) == flags;
}

/* 1 when /proc/locks lists a flock() lock on this inode, 0 when not, -1 when unknown */
static int flock_listed(ino_t ino)
{
	static char locks[65536];
	char want[40];
	int fd = open("/proc/locks", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t total = 0, n;
	while (total < (ssize_t)sizeof(locks) - 1 && (n = read(fd, locks + total, sizeof(locks) - 1 - total)) > 0)
		total += n;
	close(fd);
	locks[total] = 0;
	snprintf(want, sizeof(want), ":%lu ", (unsigned long)ino);
	for (char *line = locks; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char *end = strchr(line, '\n');
		char *hit = strstr(line, want), *kind = strstr(line, "FLOCK");
		if (hit && kind && kind < hit && (!end || hit < end))
			return 1;
	}
	return 0;
}

static struct stat stat_of(const char *path)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	if (stat(path, &st) < 0)
		st.st_ino = 0;
	return st;
}

static void join_cgroup(const char *cgroup)
{
	char procs[4096], pid[32];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	int fd = open(procs, O_WRONLY);
	CHECK(fd, "open cgroup.procs");
	int len = snprintf(pid, sizeof(pid), "%d\n", getpid());
	CHECK(write(fd, pid, len), "write cgroup.procs");
	close(fd); /* judged by the profile: allowed */
}

static void run_case(const char *name, const char *cgroup, const char *workdir)
{
	struct outcome o = { .kind = 0, .effect = -1 };
	long ret = 0;
	int fd = -1, fd2 = -1, sv[2];
	void *addr = NULL;
	dev_t mnt_dev = 0, dir_dev = 0;
	pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
	siginfo_t info;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct open_how how = { .flags = O_RDONLY };
	union bpf_attr attr;
	struct file_handle *handle = NULL;
	int mount_id;
	char mnt[640], old[700];
	uid_t r, e, s;
	gid_t rg, eg, sg;
	struct __user_cap_header_struct cap_header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2];
	struct perf_event_attr perf;
	struct sched_param sched = { .sched_priority = 0 };
	struct rlimit limit;
	struct timezone tz;
	struct utimbuf utb = { .actime = 12345, .modtime = 12345 };
	struct timeval tv[2] = { { .tv_sec = 12345 }, { .tv_sec = 12345 } };
	struct timespec ts[2] = { { .tv_sec = 12345 }, { .tv_sec = 12345 } };
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t runtime, deadline, period;
	} sched_attr = { .size = 48, .policy = SCHED_OTHER, .nice = 5 };
	cpu_set_t cpus;
	int cpus_before = 0, one = 1, value = 0;
	socklen_t optlen = sizeof(value);
	struct sockaddr_storage addr_out;
	socklen_t addr_len = sizeof(addr_out);
	char xattrs[4096], byte;
	struct stat dir_st;

	snprintf(dir, sizeof(dir), "%s/%s", workdir, name);
	snprintf(file_a, sizeof(file_a), "%s/a", dir);
	snprintf(path_b, sizeof(path_b), "%s/b", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	snprintf(mnt, sizeof(mnt), "%s/m", dir);
	CHECK(mkdir(dir, 0700), "mkdir case dir");
	CHECK(fd = make_file(file_a), "create a");
	close(fd);
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		setup_failed("socket path");
	}
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	memset(&info, 0, sizeof(info));
	info.si_code = SI_QUEUE;
	info.si_pid = pid;
	info.si_uid = getuid();
	memset(&attr, 0, sizeof(attr));

	/* set-up, outside any bound cgroup */
	if (!strcmp(name, "open_by_handle_at")) {
		handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
		handle->handle_bytes = MAX_HANDLE_SZ;
		CHECK(name_to_handle_at(AT_FDCWD, file_a, handle, &mount_id, 0), "name_to_handle_at");
		CHECK(fd = open(dir, O_RDONLY | O_DIRECTORY), "open dir");
	} else if (!strcmp(name, "ioctl") || !strcmp(name, "mmap")) {
		CHECK(fd = open(file_a, O_RDONLY), "open a");
	} else if (!strcmp(name, "mprotect") || !strcmp(name, "pkey_mprotect")) {
		CHECK(fd = open(file_a, O_RDONLY), "open a");
		addr = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		if (addr == MAP_FAILED)
			setup_failed("mmap a");
	} else if (!strcmp(name, "rmdir")) {
		CHECK(mkdir(path_b, 0700), "mkdir b");
	} else if (!strcmp(name, "bind") || !strcmp(name, "listen") || !strcmp(name, "connect")) {
		CHECK(fd = socket(AF_UNIX, SOCK_STREAM, 0), "socket");
		if (strcmp(name, "bind"))
			CHECK(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), "bind");
		if (!strcmp(name, "connect")) {
			CHECK(listen(fd, 1), "listen");
			CHECK(fd2 = socket(AF_UNIX, SOCK_STREAM, 0), "socket (client)");
		}
	} else if (!strcmp(name, "accept") || !strcmp(name, "accept4")) {
		CHECK(fd = socket(AF_UNIX, SOCK_STREAM, 0), "socket");
		CHECK(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), "bind");
		CHECK(listen(fd, 1), "listen");
		CHECK(fd2 = socket(AF_UNIX, SOCK_STREAM, 0), "socket (client)");
		CHECK(connect(fd2, (struct sockaddr *)&sun, sizeof(sun)), "connect");
	} else if (!strcmp(name, "getsockname") || !strcmp(name, "getpeername") || !strcmp(name, "setsockopt")
		   || !strcmp(name, "getsockopt") || !strcmp(name, "shutdown")) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	} else if (!strcmp(name, "flistxattr") || !strcmp(name, "fcntl") || !strcmp(name, "flock") || !strcmp(name, "fchmod")
		   || !strcmp(name, "fchown")) {
		CHECK(fd = open(file_a, O_RDONLY), "open a");
	} else if (!strcmp(name, "ftruncate")) {
		CHECK(fd = open(file_a, O_RDWR), "open a");
	} else if (!strcmp(name, "capset")) {
		CHECK(syscall(SYS_capget, &cap_header, caps), "capget");
		if (!(caps[0].effective & (1u << CAP_CHOWN))) {
			errno = EPERM;
			setup_failed("CAP_CHOWN not effective");
		}
		caps[0].effective &= ~(1u << CAP_CHOWN);
	} else if (!strcmp(name, "sched_setaffinity")) {
		CHECK(sched_getaffinity(0, sizeof(cpus), &cpus), "sched_getaffinity");
		cpus_before = CPU_COUNT(&cpus);
		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
	} else if (!strcmp(name, "setrlimit")) {
		CHECK(getrlimit(RLIMIT_NOFILE, &limit), "getrlimit");
		if (limit.rlim_max < 77) {
			errno = ERANGE;
			setup_failed("RLIMIT_NOFILE max below 77");
		}
		limit.rlim_cur = 77;
	} else if (!strcmp(name, "settimeofday")) {
		/* the current timezone, set again: no change (and no clock warp, which only a first non-zero offset makes) */
		CHECK(gettimeofday(&(struct timeval){ 0 }, &tz), "gettimeofday");
	} else if (!strcmp(name, "perf_event_open")) {
		memset(&perf, 0, sizeof(perf));
		perf.size = sizeof(perf);
		perf.type = PERF_TYPE_SOFTWARE;
		perf.config = PERF_COUNT_SW_DUMMY;
		perf.disabled = 1;
		perf.exclude_kernel = 1;
		perf.exclude_hv = 1;
	} else if (!strcmp(name, "chroot")) {
		dir_st = stat_of(dir);
	} else if (!strcmp(name, "mount") || !strcmp(name, "umount2") || !strcmp(name, "pivot_root")) {
		private_mounts();
		CHECK(mkdir(mnt, 0700), "mkdir m");
		dir_dev = dev_of(dir);
		if (strcmp(name, "mount")) {
			CHECK(mount("errno-probe", mnt, "tmpfs", 0, ""), "mount tmpfs");
			mnt_dev = dev_of(mnt);
		}
		if (!strcmp(name, "pivot_root")) {
			snprintf(old, sizeof(old), "%s/old", mnt);
			CHECK(mkdir(old, 0700), "mkdir m/old");
		}
	}

	if (cgroup)
		join_cgroup(cgroup);

	/* the call; then its side effect, checked with other syscalls */
#define IS(n) (!strcmp(name, n))
	if (IS("open")) ret = syscall(SYS_open, file_a, O_RDONLY);
	else if (IS("openat")) ret = syscall(SYS_openat, AT_FDCWD, file_a, O_RDONLY);
	else if (IS("openat2")) ret = syscall(SYS_openat2, AT_FDCWD, file_a, &how, sizeof(how));
	else if (IS("creat")) ret = syscall(SYS_creat, path_b, 0600);
	/* the O_CREAT forms of the open family (same syscall numbers): creating a new file */
	else if (IS("open+O_CREAT")) ret = syscall(SYS_open, path_b, O_RDWR | O_CREAT | O_EXCL, 0600);
	else if (IS("openat+O_CREAT")) ret = syscall(SYS_openat, AT_FDCWD, path_b, O_RDWR | O_CREAT | O_EXCL, 0600);
	else if (IS("openat2+O_CREAT")) { how.flags = O_RDWR | O_CREAT | O_EXCL; how.mode = 0600; ret = syscall(SYS_openat2, AT_FDCWD, path_b, &how, sizeof(how)); }
	else if (IS("open_by_handle_at")) ret = syscall(SYS_open_by_handle_at, fd, handle, O_RDONLY);
	else if (IS("ioctl")) { int n = 0; ret = syscall(SYS_ioctl, fd, FIONREAD, &n); }
	else if (IS("mmap")) ret = syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	else if (IS("mprotect")) ret = syscall(SYS_mprotect, addr, 4096, PROT_READ | PROT_WRITE);
	else if (IS("pkey_mprotect")) ret = syscall(SYS_pkey_mprotect, addr, 4096, PROT_READ | PROT_WRITE, -1);
	else if (IS("unlink")) ret = syscall(SYS_unlink, file_a);
	else if (IS("unlinkat")) ret = syscall(SYS_unlinkat, AT_FDCWD, file_a, 0);
	else if (IS("rmdir")) ret = syscall(SYS_rmdir, path_b);
	else if (IS("mkdir")) ret = syscall(SYS_mkdir, path_b, 0700);
	else if (IS("mkdirat")) ret = syscall(SYS_mkdirat, AT_FDCWD, path_b, 0700);
	else if (IS("rename")) ret = syscall(SYS_rename, file_a, path_b);
	else if (IS("renameat")) ret = syscall(SYS_renameat, AT_FDCWD, file_a, AT_FDCWD, path_b);
	else if (IS("renameat2")) ret = syscall(SYS_renameat2, AT_FDCWD, file_a, AT_FDCWD, path_b, 0);
	else if (IS("link")) ret = syscall(SYS_link, file_a, path_b);
	else if (IS("linkat")) ret = syscall(SYS_linkat, AT_FDCWD, file_a, AT_FDCWD, path_b, 0);
	else if (IS("symlink")) ret = syscall(SYS_symlink, file_a, path_b);
	else if (IS("symlinkat")) ret = syscall(SYS_symlinkat, file_a, AT_FDCWD, path_b);
	else if (IS("socket")) ret = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	else if (IS("socketpair")) ret = syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
	else if (IS("bind")) ret = syscall(SYS_bind, fd, &sun, sizeof(sun));
	else if (IS("listen")) ret = syscall(SYS_listen, fd, 1);
	else if (IS("connect")) ret = syscall(SYS_connect, fd2, &sun, sizeof(sun));
	else if (IS("kill")) ret = syscall(SYS_kill, pid, 0);
	/* every process of our group is a target: task_kill runs once per target, and each must be denied */
	else if (IS("kill+pgrp")) ret = syscall(SYS_kill, 0, 0);
	else if (IS("tkill")) ret = syscall(SYS_tkill, tid, 0);
	else if (IS("tgkill")) ret = syscall(SYS_tgkill, pid, tid, 0);
	else if (IS("rt_sigqueueinfo")) ret = syscall(SYS_rt_sigqueueinfo, pid, 0, &info);
	else if (IS("rt_tgsigqueueinfo")) ret = syscall(SYS_rt_tgsigqueueinfo, pid, tid, 0, &info);
	else if (IS("prctl")) ret = syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
	else if (IS("setuid")) ret = syscall(SYS_setuid, NOBODY);
	else if (IS("setreuid")) ret = syscall(SYS_setreuid, NOBODY, -1);
	else if (IS("setresuid")) ret = syscall(SYS_setresuid, -1, -1, NOBODY);
	else if (IS("setfsuid")) ret = syscall(SYS_setfsuid, NOBODY);
	else if (IS("setgid")) ret = syscall(SYS_setgid, NOBODY);
	else if (IS("setregid")) ret = syscall(SYS_setregid, NOBODY, -1);
	else if (IS("setresgid")) ret = syscall(SYS_setresgid, -1, -1, NOBODY);
	else if (IS("setfsgid")) ret = syscall(SYS_setfsgid, NOBODY);
	else if (IS("mount")) ret = syscall(SYS_mount, "errno-probe", mnt, "tmpfs", 0, "");
	else if (IS("umount2")) ret = syscall(SYS_umount2, mnt, 0);
	else if (IS("pivot_root")) ret = syscall(SYS_pivot_root, mnt, old);
	else if (IS("bpf")) { attr.start_id = 0; ret = syscall(SYS_bpf, BPF_PROG_GET_NEXT_ID, &attr, sizeof(attr)); }
	else if (IS("listxattr")) ret = syscall(SYS_listxattr, file_a, xattrs, sizeof(xattrs));
	else if (IS("llistxattr")) ret = syscall(SYS_llistxattr, file_a, xattrs, sizeof(xattrs));
	else if (IS("flistxattr")) ret = syscall(SYS_flistxattr, fd, xattrs, sizeof(xattrs));
	else if (IS("accept")) ret = syscall(SYS_accept, fd, NULL, NULL);
	else if (IS("accept4")) ret = syscall(SYS_accept4, fd, NULL, NULL, SOCK_CLOEXEC);
	else if (IS("getsockname")) ret = syscall(SYS_getsockname, sv[0], &addr_out, &addr_len);
	else if (IS("getpeername")) ret = syscall(SYS_getpeername, sv[0], &addr_out, &addr_len);
	else if (IS("setsockopt")) ret = syscall(SYS_setsockopt, sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	else if (IS("getsockopt")) ret = syscall(SYS_getsockopt, sv[0], SOL_SOCKET, SO_TYPE, &value, &optlen);
	else if (IS("shutdown")) ret = syscall(SYS_shutdown, sv[0], SHUT_WR);
	else if (IS("fcntl")) ret = syscall(SYS_fcntl, fd, F_SETFL, O_NONBLOCK);
	else if (IS("flock")) ret = syscall(SYS_flock, fd, LOCK_EX | LOCK_NB);
	else if (IS("chroot")) ret = syscall(SYS_chroot, dir);
	else if (IS("utime")) ret = syscall(SYS_utime, file_a, &utb);
	else if (IS("utimes")) ret = syscall(SYS_utimes, file_a, tv);
	else if (IS("futimesat")) ret = syscall(SYS_futimesat, AT_FDCWD, file_a, tv);
	else if (IS("utimensat")) ret = syscall(SYS_utimensat, AT_FDCWD, file_a, ts, 0);
	else if (IS("chmod")) ret = syscall(SYS_chmod, file_a, 0644);
	else if (IS("fchmod")) ret = syscall(SYS_fchmod, fd, 0644);
	else if (IS("fchmodat")) ret = syscall(SYS_fchmodat, AT_FDCWD, file_a, 0644);
	else if (IS("fchmodat2")) ret = syscall(SYS_fchmodat2, AT_FDCWD, file_a, 0644, 0);
	else if (IS("chown")) ret = syscall(SYS_chown, file_a, NOBODY, -1);
	else if (IS("fchown")) ret = syscall(SYS_fchown, fd, NOBODY, -1);
	else if (IS("lchown")) ret = syscall(SYS_lchown, file_a, NOBODY, -1);
	else if (IS("fchownat")) ret = syscall(SYS_fchownat, AT_FDCWD, file_a, NOBODY, -1, 0);
	else if (IS("truncate")) ret = syscall(SYS_truncate, file_a, 0);
	else if (IS("ftruncate")) ret = syscall(SYS_ftruncate, fd, 0);
	else if (IS("capset")) ret = syscall(SYS_capset, &cap_header, caps);
	else if (IS("sched_setscheduler")) ret = syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &sched);
	else if (IS("sched_setparam")) ret = syscall(SYS_sched_setparam, 0, &sched);
	else if (IS("sched_setattr")) ret = syscall(SYS_sched_setattr, 0, &sched_attr, 0);
	else if (IS("sched_setaffinity")) ret = syscall(SYS_sched_setaffinity, 0, sizeof(cpus), &cpus);
	else if (IS("setrlimit")) ret = syscall(SYS_setrlimit, RLIMIT_NOFILE, &limit);
	else if (IS("syslog")) ret = syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	else if (IS("settimeofday")) ret = syscall(SYS_settimeofday, NULL, &tz);
	else if (IS("perf_event_open")) ret = syscall(SYS_perf_event_open, &perf, 0, -1, -1, 0);
	else { o.kind = 2; send_outcome(&o); }
	o.ret = ret;
	o.err = ret == -1 ? errno : 0;

	if (IS("creat") || IS("open+O_CREAT") || IS("openat+O_CREAT") || IS("openat2+O_CREAT") || IS("mkdir") || IS("mkdirat") || IS("link") || IS("linkat") || IS("symlink") || IS("symlinkat"))
		o.effect = exists(path_b);
	else if (IS("rename") || IS("renameat") || IS("renameat2"))
		o.effect = exists(path_b) || !exists(file_a);
	else if (IS("unlink") || IS("unlinkat"))
		o.effect = !exists(file_a);
	else if (IS("rmdir"))
		o.effect = !exists(path_b);
	else if (IS("bind"))
		o.effect = exists(sock_path);
	else if (IS("mprotect") || IS("pkey_mprotect"))
		o.effect = mapping_writable(addr);
	else if (IS("mmap"))
		o.effect = ret != -1;
	else if (IS("setuid") || IS("setreuid"))
		o.effect = getuid() == NOBODY;
	else if (IS("setresuid"))
		o.effect = getresuid(&r, &e, &s) == 0 ? s == NOBODY : -1;
	else if (IS("setfsuid"))
		o.effect = syscall(SYS_setfsuid, -1) == NOBODY; /* setfsuid returns the old fsuid, never an error */
	else if (IS("setgid") || IS("setregid"))
		o.effect = getgid() == NOBODY;
	else if (IS("setresgid"))
		o.effect = getresgid(&rg, &eg, &sg) == 0 ? sg == NOBODY : -1;
	else if (IS("setfsgid"))
		o.effect = syscall(SYS_setfsgid, -1) == NOBODY;
	else if (IS("listxattr") || IS("llistxattr") || IS("flistxattr") || IS("getsockname") || IS("getpeername")
		 || IS("getsockopt") || IS("syslog") || IS("perf_event_open"))
		o.effect = ret != -1; /* what the call returns is its effect */
	else if (IS("accept") || IS("accept4")) {
		struct pollfd pending = { .fd = fd, .events = POLLIN };
		o.effect = poll(&pending, 1, 0) == 0; /* the queued connection was taken */
	} else if (IS("setsockopt"))
		o.effect = getsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &value, &optlen) == 0 ? value != 0 : -1;
	else if (IS("shutdown"))
		o.effect = recv(sv[1], &byte, 1, MSG_DONTWAIT) == 0; /* end of stream rather than EAGAIN */
	else if (IS("fcntl"))
		o.effect = fd_has_flags(fd, O_NONBLOCK);
	else if (IS("flock"))
		o.effect = flock_listed(stat_of(file_a).st_ino);
	else if (IS("chroot")) {
		struct stat root = stat_of("/");
		o.effect = root.st_ino == dir_st.st_ino && root.st_dev == dir_st.st_dev;
	} else if (IS("utime") || IS("utimes") || IS("futimesat") || IS("utimensat"))
		o.effect = stat_of(file_a).st_mtime == 12345;
	else if (IS("chmod") || IS("fchmod") || IS("fchmodat") || IS("fchmodat2"))
		o.effect = (stat_of(file_a).st_mode & 07777) == 0644;
	else if (IS("chown") || IS("fchown") || IS("lchown") || IS("fchownat"))
		o.effect = stat_of(file_a).st_uid == NOBODY;
	else if (IS("truncate") || IS("ftruncate"))
		o.effect = stat_of(file_a).st_size == 0;
	else if (IS("capset"))
		o.effect = syscall(SYS_capget, &cap_header, caps) == 0 ? !(caps[0].effective & (1u << CAP_CHOWN)) : -1;
	else if (IS("sched_setscheduler"))
		o.effect = sched_getscheduler(0) == SCHED_BATCH;
	else if (IS("sched_setattr")) {
		errno = 0;
		int nice = getpriority(PRIO_PROCESS, 0);
		o.effect = errno ? -1 : nice == 5;
	} else if (IS("sched_setaffinity")) {
		if (cpus_before > 1 && sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
			o.effect = CPU_COUNT(&cpus) == 1;
	} else if (IS("setrlimit"))
		o.effect = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur == 77 : -1;
	else if (IS("mount"))
		o.effect = dev_of(mnt) != dir_dev;
	else if (IS("umount2"))
		o.effect = dev_of(mnt) != mnt_dev;
	else if (IS("pivot_root"))
		o.effect = dev_of("/") == mnt_dev;
#undef IS
	send_outcome(&o);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <workdir> <syscall>[=<cgroup-dir>]...\n", argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		char name[64];
		const char *cgroup = NULL;
		const char *eq = strchr(argv[i], '=');
		size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
		if (len >= sizeof(name)) {
			fprintf(stderr, "case name too long: %s\n", argv[i]);
			return 2;
		}
		memcpy(name, argv[i], len);
		name[len] = 0;
		if (eq)
			cgroup = eq + 1;

		int fds[2];
		if (pipe(fds) < 0)
			return 3;
		fflush(stdout);
		pid_t child = fork();
		if (child < 0)
			return 3;
		if (child == 0) {
			close(fds[0]);
			report_fd = fds[1];
			run_case(name, cgroup, argv[1]);
			_exit(91);
		}
		close(fds[1]);
		struct outcome o;
		ssize_t n = read(fds[0], &o, sizeof(o));
		close(fds[0]);
		int status;
		waitpid(child, &status, 0);
		if (n != (ssize_t)sizeof(o))
			printf("died %s %d\n", name, status);
		else if (o.kind == 1)
			printf("setup-failed %s %s %d\n", name, o.step, o.err);
		else if (o.kind == 2)
			printf("unknown %s\n", name);
		else
			printf("result %s %lld %d %d\n", name, (long long)o.ret, o.err, o.effect);
	}
	fflush(stdout);
	return 0;
}
