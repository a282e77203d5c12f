#!/usr/bin/env bash
# Installs containerd 2.x privately for the tests, next to (never instead of) the system's containerd 1.7:
# the newest 2.x package Debian sid serves is downloaded by exact version and unpacked with dpkg -x under
# PREFIX/VERSION (default PREFIX /opt/seccomp-ebpf/containerd2). Its runc dependency is bookworm's runc.
# Idempotent: a version already unpacked is reused. Prints the directory holding containerd, ctr and
# containerd-shim-runc-v2 on stdout (everything else goes to stderr).
#   scripts/install-containerd2.sh [SERIES-REGEX]     default '2\.[0-9]+' (any 2.x); e.g. '2\.1'
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
series=${1:-'2\.[0-9]+'}
prefix=${SECCOMP_EBPF_CONTAINERD2_PREFIX:-/opt/seccomp-ebpf/containerd2}
log() { echo "install-containerd2: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (apt-get download, $prefix)"; exit 1; }

version=$("$here/served-version.sh" containerd --version-regex "${series}\\.") || true
[ -n "$version" ] || { log "no containerd ${series} package is served (apt-cache madison containerd)"; exit 1; }
command -v runc > /dev/null || { log "runc is missing (scripts/install-deps.sh runtime installs bookworm's)"; exit 1; }

dir=$prefix/$version
if [ ! -f "$dir/ready" ]; then
    log "downloading containerd $version"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get -q download -o APT::Sandbox::User=root "containerd=$version" >&2)
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg -x "$tmp"/containerd_*.deb "$tmp/root"
    for tool in containerd ctr containerd-shim-runc-v2; do
        [ -x "$tmp/root/usr/bin/$tool" ] || { log "the package has no usr/bin/$tool"; exit 1; }
    done
    mv "$tmp/root/usr/bin" "$dir/bin"
    echo "$version" > "$dir/package-version"
    touch "$dir/ready"
fi
"$dir/bin/containerd" --version >&2
echo "$dir/bin"
