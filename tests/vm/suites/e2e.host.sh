#!/bin/bash
# Host-side preparation of the e2e suite: builds tests/SeccompEbpf.E2E.Tests (Release; this also rebuilds
# bpf/seccomp.bpf.o through make when a BPF source changed) into its own output folder inside the
# repository (TestPaths finds the repository root above the assembly, and tests/native/bin/container-probe
# from there), and checks the host tools the guest borrows: containerd 1.7, ctr, runc, the runc shim and
# busybox-static. The assembly path goes to $SECCOMP_EBPF_VM_ARTIFACTS/e2e/tests.list for dotnet.sh.
set -euo pipefail
repo=$SECCOMP_EBPF_REPO_ROOT
out=$SECCOMP_EBPF_VM_ARTIFACTS/e2e
project=$repo/tests/SeccompEbpf.E2E.Tests/SeccompEbpf.E2E.Tests.csproj
# Not bin/Release: other builds of the project must not swap files under a running guest.
build=$repo/tests/SeccompEbpf.E2E.Tests/bin/vm-e2e
for tool in containerd ctr runc containerd-shim-runc-v2; do
    command -v "$tool" > /dev/null || { echo "e2e.host: '$tool' is not installed (containerd 1.7 + runc)" >&2; exit 1; }
done
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || [ ! -x /bin/busybox ]; then
    echo "e2e.host: the test image needs busybox-static's /bin/busybox" >&2; exit 1
fi
make -s -C "$repo/tests/native" bin/container-probe
file -L "$repo/tests/native/bin/container-probe" | grep -q 'statically linked' \
    || { echo "e2e.host: tests/native/bin/container-probe is not static" >&2; exit 1; }
mkdir -p "$out"
echo "e2e.host: building $project"
dotnet build -c Release --nologo -v quiet "$project" -o "$build"
[ -x "$build/seccomp-ebpf" ] || { echo "e2e.host: the build produced no $build/seccomp-ebpf" >&2; exit 1; }
echo "$build/SeccompEbpf.E2E.Tests.dll" > "$out/tests.list"
