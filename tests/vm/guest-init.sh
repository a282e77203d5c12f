#!/bin/busybox sh
# /init of the matrix initramfs (built by tests/vm/run-matrix.sh). Runs on busybox-static only:
# loads the 9p/virtio modules, mounts the host's root read-only over 9p at /host, gives it the
# kernel filesystems and writable tmpfs the suites need, then chroots in and runs the harness's
# guest runner. Everything it prints goes to the serial console, which the harness parses.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /host /keep
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

param() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }
nonce=$(param seccomp_ebpf_vm_nonce)
rundir=$(param seccomp_ebpf_vm_run)

finish() {
    echo "SECCOMP-EBPF-VM-END nonce=$nonce rc=$1 uptime=$(cut -d' ' -f1 /proc/uptime)"
    sync
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
}
fail() {
    echo "SECCOMP-EBPF-VM-INIT-ERROR nonce=$nonce $*"
    finish 125
}

[ -n "$nonce" ] && [ -n "$rundir" ] || fail "kernel command line lacks seccomp_ebpf_vm_nonce/seccomp_ebpf_vm_run"

while read -r module; do
    [ -n "$module" ] || continue
    insmod "/modules/$module" || fail "insmod $module failed"
done < /modules/load.list

# 512 KiB messages and the loose cache: the root is read-only and unchanged during the run, and
# .NET reads many large files from it.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro host /host \
    || fail "mounting the host root over 9p failed"
[ -d "/host$rundir" ] || fail "run directory $rundir is not visible over 9p"

# Paths the run needs (repository, run directory, artifacts) may lie under a directory that gets a
# tmpfs below (CI may clone into /tmp): bind them aside first and put them back on top afterwards.
keep=0
while read -r path; do
    [ -n "$path" ] && [ -d "/host$path" ] || continue
    keep=$((keep + 1))
    mkdir -p "/keep/$keep"
    mount --bind "/host$path" "/keep/$keep"
    echo "$path" > "/keep/$keep.path"
done < "/host$rundir/keep-paths"

mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm 2>/dev/null
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
for dir in /tmp /var/tmp /run; do
    mount -t tmpfs -o mode=1777,size=768m tmpfs "/host$dir" || fail "tmpfs on $dir failed"
done
mount -t securityfs securityfs /host/sys/kernel/security || fail "securityfs mount failed"
mount -t bpf -o mode=0700 bpf /host/sys/fs/bpf || fail "bpffs mount failed"
# Pure cgroup v2 at the usual place: the engine finds the cgroup2 mount through /proc/self/mountinfo.
mount -t cgroup2 -o nsdelegate cgroup2 /host/sys/fs/cgroup || fail "cgroup2 mount failed"
mount -t debugfs debugfs /host/sys/kernel/debug || echo "init: debugfs not mounted"
mount -t tracefs tracefs /host/sys/kernel/tracing 2>/dev/null \
    || mount -t tracefs tracefs /host/sys/kernel/debug/tracing 2>/dev/null \
    || echo "init: tracefs not mounted"

i=1
while [ "$i" -le "$keep" ]; do
    path=$(cat "/keep/$i.path")
    mkdir -p "/host$path" 2>/dev/null
    mount --move "/keep/$i" "/host$path" || fail "could not restore $path"
    i=$((i + 1))
done

# vstest talks to its test host over loopback TCP.
ifconfig lo 127.0.0.1 up || echo "init: loopback not configured"
hostname seccomp-ebpf-vm

echo "SECCOMP-EBPF-VM-BEGIN nonce=$nonce uptime=$(cut -d' ' -f1 /proc/uptime)"
chroot /host /bin/bash "$rundir/guest-run.sh" < /dev/console > /dev/console 2>&1
finish $?
