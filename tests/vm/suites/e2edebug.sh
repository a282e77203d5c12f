#!/bin/bash
# vm-timeout-seconds: 300
# THROWAWAY (e2e debugging): verifier log of bpf/seccomp.bpf.o on the guest kernel.
cd "$SECCOMP_EBPF_REPO_ROOT"
mkdir -p /sys/fs/bpf/x
bpftool -d prog loadall "${SECCOMP_EBPF_DEBUG_OBJ:-bpf/seccomp.bpf.o}" /sys/fs/bpf/x > /tmp/log.txt 2>&1
echo "bpftool rc=$?"
grep -n -E 'BEGIN PROG LOAD LOG|END PROG LOAD LOG|failed to load' /tmp/log.txt | head -20
awk '/BEGIN PROG LOAD LOG/{on=1; n=0} on{n++; buf[n]=$0} /END PROG LOAD LOG/{on=0}
     END { s = (n > 120 ? n - 120 : 1); for (i = s; i <= n; i++) print "VLOG " buf[i] }' /tmp/log.txt
echo "VMRESULT debug=done"
grep -E "^libbpf: prog '[a-z_0-9]+': (-- BEGIN|failed)" /tmp/log.txt | sed 's/^/VSUM /' | head
