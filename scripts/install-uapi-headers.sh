#!/usr/bin/env bash
# Unpacks a Debian release's kernel UAPI headers (linux-libc-dev) privately, never installed over the system's:
# the syscall tables (scripts/gen-syscall-tables.py) are generated from the newest headers Debian serves, and
# SyscallTableHeaderTests checks them against an older release's too. The package is downloaded by exact version
# and unpacked with dpkg -x under PREFIX/VERSION (default PREFIX /opt/seccomp-ebpf-test-tools/uapi).
# Idempotent: a version already unpacked is reused. Prints the include directory (PREFIX/VERSION/usr/include) on
# stdout; everything else goes to stderr.
#   scripts/install-uapi-headers.sh [RELEASE]     default trixie; e.g. sid for the newest
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
release=${1:-trixie}
prefix=${SECCOMP_EBPF_UAPI_PREFIX:-/opt/seccomp-ebpf-test-tools/uapi}
log() { echo "install-uapi-headers: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (apt-get download, $prefix)"; exit 1; }

version=$("$here/served-version.sh" linux-libc-dev --release "$release") || true
[ -n "$version" ] || { log "Debian $release serves no linux-libc-dev (apt-cache madison linux-libc-dev)"; exit 1; }

dir=$prefix/$version
if [ ! -f "$dir/ready" ]; then
    log "downloading linux-libc-dev $version ($release)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get -q download -o APT::Sandbox::User=root "linux-libc-dev=$version" >&2)
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg -x "$tmp"/linux-libc-dev_*.deb "$dir"
    # what gen-syscall-tables.py and SyscallTableHeaderTests read
    for header in x86_64-linux-gnu/asm/unistd_64.h x86_64-linux-gnu/asm/unistd_32.h x86_64-linux-gnu/asm/unistd_x32.h \
                  aarch64-linux-gnu/asm/unistd_64.h asm-generic/errno.h; do
        [ -f "$dir/usr/include/$header" ] || { log "the package has no usr/include/$header"; exit 1; }
    done
    echo "linux-libc-dev $version" > "$dir/usr/include/package-version"
    touch "$dir/ready"
fi
echo "$dir/usr/include"
