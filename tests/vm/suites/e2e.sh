#!/bin/bash
# vm-timeout-seconds: 900
# In-guest suite: the containerd end-to-end tests that need a BPF-LSM kernel (xunit Category=vm of
# tests/SeccompEbpf.E2E.Tests, built by e2e.host.sh): a private containerd 1.7 with NRI, runc, and the
# real seccomp-ebpf daemon, run through dotnet.sh. Overlay comes from the initramfs (run-matrix.sh loads
# the guest kernel's overlay.ko); containerd's root and state go under /tmp (tmpfs). Under TCG containerd's
# NRI request timeout (2 s by default) is far too short, hence SECCOMP_EBPF_NRI_REQUEST_TIMEOUT.
set -u
export SECCOMP_EBPF_VM_DOTNET_LIST=$SECCOMP_EBPF_VM_ARTIFACTS/e2e/tests.list
export SECCOMP_EBPF_VM_DOTNET_FILTER=${SECCOMP_EBPF_VM_E2E_FILTER:-Category=vm}
export SECCOMP_EBPF_NRI_REQUEST_TIMEOUT=${SECCOMP_EBPF_NRI_REQUEST_TIMEOUT:-30s}
if ! grep -qw overlay /proc/filesystems; then
    echo "VMRESULT case=e2e_overlayfs result=fail detail=overlay_not_in_/proc/filesystems_(initramfs_did_not_load_overlay.ko)"
    exit 1
fi
exec bash "$SECCOMP_EBPF_REPO_ROOT/tests/vm/suites/dotnet.sh"
