#!/usr/bin/env bash
# Builds the DaemonSet's image (seccomp-ebpf:latest) from this repository, without a container engine: a
# self-contained publish of the daemon plus the few Debian packages it loads (scripts/image-rootfs.sh), written as
# an OCI image by umoci. config/kubernetes/Containerfile builds the same files with an engine.
#   scripts/build-image.sh [--out DIR] [--tag TAG] [--import] [--force]
# Output: DIR/oci (an OCI layout holding seccomp-ebpf:TAG, the local tag) and DIR/seccomp-ebpf-TAG.oci.tar (the
# same layout as an OCI archive); both paths are printed. DIR defaults to .build/image.
# The image is rebuilt only when the sources it is made of changed (their hash is kept in DIR/source.sha256);
# --force rebuilds anyway. --import also loads it into the local containerd for Kubernetes (namespace k8s.io) as
# docker.io/library/seccomp-ebpf:TAG, the name the DaemonSet's `image: seccomp-ebpf:latest` resolves to.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/.build/image tag=latest import=false force=false
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --tag) tag=${2:?--tag needs a name}; shift 2 ;;
        --import) import=true; shift ;;
        --force) force=true; shift ;;
        *) echo "build-image: unknown option '$1' (--out DIR, --tag TAG, --import, --force)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "build-image: run as root (the root filesystem is assembled with chroot)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
archive=$out/seccomp-ebpf-$tag.oci.tar

# What the image is made of: the daemon's sources, the BPF program, the build settings and these scripts.
source_hash() {
    cd "$src"
    local inputs=(plugin bpf protos scripts/build-image.sh scripts/image-rootfs.sh scripts/publish-daemon.sh
        Directory.Build.props Directory.Packages.props global.json)
    if git rev-parse --git-dir >/dev/null 2>&1; then
        git ls-files -z -co --exclude-standard -- "${inputs[@]}"
    else
        find "${inputs[@]}" -type f -not -path '*/bin/*' -not -path '*/obj/*' -print0
    fi | LC_ALL=C sort -z | xargs -0 sha256sum | { sha256sum; echo "tag=$tag"; } | sha256sum | cut -d' ' -f1
}
hash=$(source_hash)

if [ "$force" = false ] && [ -f "$archive" ] && [ "$(cat "$out/source.sha256" 2>/dev/null)" = "$hash" ]; then
    echo "build-image: sources unchanged ($hash), keeping the image built from them"
else
    started=$(date +%s)
    "$src/scripts/install-deps.sh" build image
    # apt must list bookworm-backports (libbpf 1.4) for image-rootfs.sh's downloads.
    if ! apt-cache policy libbpf1 | grep -q bookworm-backports; then
        "$src/scripts/apt-sources.sh"
        apt-get update -q >/dev/null
    fi
    work=$out/work
    rm -rf "$work" "$out/oci" "$archive" "$out/source.sha256"
    mkdir -p "$work"
    make -s -C "$src/bpf"
    "$src/scripts/publish-daemon.sh" --image "$work/publish"
    "$src/scripts/image-rootfs.sh" "$work/rootfs" "$work/publish"

    # Fixed timestamps (the last commit's, else the epoch) so unchanged sources give the same layer contents.
    epoch=$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)
    created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
    find "$work/rootfs" -exec touch -h -d "@$epoch" {} +

    umoci init --layout "$out/oci"
    umoci new --image "$out/oci:$tag"
    umoci insert --image "$out/oci:$tag" --history.created "$created" \
        --history.created_by "scripts/build-image.sh" "$work/rootfs" /
    umoci config --image "$out/oci:$tag" --created "$created" --history.created "$created" \
        --architecture amd64 --os linux \
        --config.env PATH=/usr/local/bin:/usr/bin:/bin \
        --config.entrypoint seccomp-ebpf \
        --config.cmd run --config.cmd --config --config.cmd /etc/seccomp-ebpf/config.json \
        --config.label org.opencontainers.image.title=seccomp-ebpf \
        --config.label "org.opencontainers.image.revision=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
    umoci gc --layout "$out/oci"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$out/oci" -cf "$archive" .
    rm -rf "$work"
    echo "$hash" > "$out/source.sha256"
    echo "build-image: built in $(( $(date +%s) - started )) s"
fi

blobs=$(du -sb "$out/oci/blobs" | cut -f1)
echo "build-image: image $out/oci:$tag (OCI layout), archive $archive"
echo "build-image: size: $(( blobs / 1000000 )) MB compressed (the archive's blobs), $(( $(stat -c %s "$archive") / 1000000 )) MB archive"

if [ "$import" = true ]; then
    ctr -n k8s.io images import --base-name docker.io/library/seccomp-ebpf "$archive"
    echo "build-image: imported as docker.io/library/seccomp-ebpf:$tag (containerd namespace k8s.io)"
fi
