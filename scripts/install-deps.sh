#!/usr/bin/env bash
# Installs SeccompEbpf's Debian packages. Groups: runtime (the daemon and containerd), build (compile the
# plugin and its BPF object), test (everything ./test.sh exercises), image (scripts/build-image.sh: umoci writes
# the OCI image without a container engine), try (scripts/try.sh's demo image). Idempotent: apt runs only when a
# package is missing.
#   scripts/install-deps.sh runtime build [test] [image] [try]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

runtime_pkgs=(containerd/trixie runc libbpf1/bookworm-backports ca-certificates)
build_pkgs=(clang-19 llvm-19 libbpf-dev/bookworm-backports bpftool/bookworm-backports make gcc libc6-dev)
image_pkgs=(umoci)
try_pkgs=(busybox-static)
test_pkgs=(busybox-static libseccomp-dev gcc-multilib qemu-system-x86 cpio kmod xz-utils zstd linux-libc-dev procps psmisc)

wanted=()
for group in "$@"; do
    case "$group" in
        runtime) wanted+=("${runtime_pkgs[@]}") ;;
        build) wanted+=("${build_pkgs[@]}") ;;
        test) wanted+=("${test_pkgs[@]}") ;;
        image) wanted+=("${image_pkgs[@]}") ;;
        try) wanted+=("${try_pkgs[@]}") ;;
        *) echo "install-deps: unknown group '$group' (runtime, build, test, image, try)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: must run as root (apt-get install)" >&2
    exit 1
fi

# containerd must be the trixie 1.7 build (NRI); bookworm's 1.6 has no NRI.
containerd_ok() {
    dpkg-query -W -f='${Version}' containerd 2>/dev/null | grep -q '^1\.7\.'
}

missing=()
for spec in "${wanted[@]}"; do
    pkg=${spec%%/*}
    if [ "$pkg" = containerd ]; then
        containerd_ok || missing+=("$spec")
    elif [ "$pkg" = libbpf-dev ] || [ "$pkg" = libbpf1 ]; then
        # libbpf >= 1.4 (bookworm-backports); bookworm's 1.1 lacks what the loader uses.
        dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null | grep -qE '^1:1\.([4-9]|[1-9][0-9])' || missing+=("$spec")
    elif [ "$pkg" = bpftool ]; then
        dpkg-query -W -f='${Version}' bpftool 2>/dev/null | grep -qE '^7\.([5-9]|[1-9][0-9])' || missing+=("$spec")
    else
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$spec")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

"$here/apt-sources.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
echo "install-deps: installing ${missing[*]}"
apt-get install -y -q --no-install-recommends "${missing[@]}"
