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
 *
 * Ids are changed to 65534 (nobody) by the setuid/setgid cases so that each call is a real change that
 * reaches task_fix_setuid/task_fix_setgid; the children are disposable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/openat2.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

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
