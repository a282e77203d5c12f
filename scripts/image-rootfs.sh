#!/usr/bin/env bash
# Assembles the daemon image's root filesystem in ROOTFS from the image's publish (scripts/publish-daemon.sh
# --image) and the few Debian packages it loads: no base image, no package manager, no shell beyond
# busybox. Used by scripts/build-image.sh on a host and by config/kubernetes/Containerfile in a Debian build stage,
# so both produce the same files. Needs apt with bookworm-backports in its lists (scripts/apt-sources.sh).
#   scripts/image-rootfs.sh ROOTFS PUBLISHDIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 ROOTFS PUBLISHDIR" >&2; exit 2; }
rootfs=$1 publish=$2
[ -x "$publish/seccomp-ebpf" ] || { echo "image-rootfs: $publish/seccomp-ebpf missing (publish first)" >&2; exit 1; }

# What the daemon maps: libc/libstdc++/libgcc (the .NET runtime), libssl (TLS to the Kubernetes API), libbpf 1.4
# and what it links (libelf, zlib, libzstd); busybox for `kubectl exec` debugging. ICU is not needed:
# Directory.Build.props sets InvariantGlobalization.
packages=(libc6 libgcc-s1 libstdc++6 libssl3 libbpf1/bookworm-backports libelf1 zlib1g libzstd1 busybox-static)

debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
chown _apt "$debs" 2>/dev/null || chmod 777 "$debs"   # apt-get download drops privileges to _apt
(cd "$debs" && apt-get download -q "${packages[@]}" >/dev/null)

rm -rf "$rootfs"
mkdir -p "$rootfs"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done

# Docs, man pages, translations, the charset converters and the static busybox's applet links are not loaded.
rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,bug,gcc,gdb} "$rootfs"/usr/lib/x86_64-linux-gnu/gconv \
    "$rootfs"/usr/share/busybox "$rootfs"/etc/default "$rootfs"/etc/init.d "$rootfs"/sbin/ldconfig

mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,run,var/run,usr/local/bin,etc/seccomp-ebpf}
chmod 1777 "$rootfs/tmp"
for applet in sh ls cat ps mount grep; do ln -sf busybox "$rootfs/bin/$applet"; done
cp -a "$publish" "$rootfs/usr/lib/seccomp-ebpf"
# The LTTng tracing provider would look for liblttng-ust, which the image does not have; the runtime runs without it.
rm -f "$rootfs/usr/lib/seccomp-ebpf/libcoreclrtraceptprovider.so"
ln -sf /usr/lib/seccomp-ebpf/seccomp-ebpf "$rootfs/usr/local/bin/seccomp-ebpf"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
printf 'include /etc/ld.so.conf.d/*.conf\n' > "$rootfs/etc/ld.so.conf"
ldconfig -r "$rootfs"

# The image's own dynamic loader must resolve every native library the daemon maps, and what those link.
for lib in usr/lib/x86_64-linux-gnu/libbpf.so.1 usr/lib/x86_64-linux-gnu/libssl.so.3 $(cd "$rootfs" && echo usr/lib/seccomp-ebpf/*.so); do
    deps=$(chroot "$rootfs" /lib64/ld-linux-x86-64.so.2 --list "/$lib" 2>&1) \
        || { echo "image-rootfs: /$lib does not load in the image: $deps" >&2; exit 1; }
    if grep -q 'not found' <<<"$deps"; then
        echo "image-rootfs: /$lib needs a library the image lacks:" >&2; grep 'not found' <<<"$deps" >&2; exit 1
    fi
done
# The runtime reads /proc: mount one in a private mount namespace, gone with the check. A container engine's build
# step may not mount (no CAP_SYS_ADMIN): the Containerfile sets IMAGE_ROOTFS_NO_START_CHECK and says so.
if [ -n "${IMAGE_ROOTFS_NO_START_CHECK:-}" ]; then
    echo "image-rootfs: not starting the daemon in the image (IMAGE_ROOTFS_NO_START_CHECK); the library check above ran" >&2
    exit 0
fi
unshare --mount --propagation private /bin/sh -c 'mount -t proc proc "$1/proc" && chroot "$1" /usr/local/bin/seccomp-ebpf version' \
    sh "$rootfs" >/dev/null \
    || { echo "image-rootfs: the daemon does not start inside $rootfs" >&2; exit 1; }
