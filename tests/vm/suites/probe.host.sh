#!/bin/bash
# Host-side preparation of the probe suite: compiles tests/vm/probe/*.bpf.c with clang-19 and the
# loader/target helpers with gcc into $SECCOMP_EBPF_VM_ARTIFACTS/probe (visible in the guest over 9p).
set -euo pipefail
src=$SECCOMP_EBPF_REPO_ROOT/tests/vm/probe
out=$SECCOMP_EBPF_VM_ARTIFACTS/probe
missing=()
command -v clang-19 > /dev/null || missing+=(clang-19)
command -v gcc > /dev/null || missing+=(gcc)
[ -f /usr/include/bpf/libbpf.h ] || missing+=(libbpf-dev)
command -v bpftool > /dev/null || missing+=(bpftool)
if [ ${#missing[@]} -gt 0 ]; then
    echo "probe.host: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
rm -rf "$out"; mkdir -p "$out"
for c in "$src"/*.bpf.c; do
    clang-19 -g -O2 -target bpf -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu -I"$src" \
        -Wall -Werror -c "$c" -o "$out/$(basename "${c%.c}").o"
done
gcc -O2 -Wall -Werror -o "$out/probe-loader" "$src/probe-loader.c" -lbpf
gcc -O2 -Wall -Werror -o "$out/probe-target" "$src/probe-target.c"
echo "probe.host: built $(cd "$out" && ls | tr '\n' ' ')"
