#!/usr/bin/env bash
# The qemu kernel matrix: boots each stock Debian kernel listed in tests/vm/kernels.txt under qemu
# TCG with the host's root mounted read-only over 9p, runs the chosen in-guest suites
# (tests/vm/suites/NAME.sh) there, and prints one table row per kernel. See docs/vm.md.
#
# Usage: tests/vm/run-matrix.sh [--kernels FILE] [--kernel NAME]... [--suite NAME]...
#                               [--env KEY=VALUE]... [--timeout SECONDS] [--jobs N] [--repo DIR] [--results DIR]
#   --kernels FILE   kernel list (default tests/vm/kernels.txt)
#   --kernel NAME    run only the named entries of the list (repeatable)
#   --suite NAME     suite to run in each guest, in order (repeatable; default: probe)
#   --env KEY=VALUE  environment for the suites (repeatable; wins over kernels.txt); every SECCOMP_EBPF_*
#                    variable of the caller's environment is passed as well
#   --timeout SEC    wall-clock limit per kernel (default: 240 s boot allowance + the suites' limits)
#   --jobs N         kernels booted at once (default: SECCOMP_EBPF_VM_JOBS, else the host's cores, at most one
#                    per 3 GiB of available memory; never more than the kernels selected). Each single-threaded
#                    TCG guest keeps one host core busy. With N > 1 every harness line of a kernel starts with
#                    "run-matrix: NAME:"; the table and the result files keep the kernel list's order.
#   --repo DIR       repository root the guest runs the suites from (default: this script's ../..)
#   --results DIR    also write there: passed, failed (case counts over all kernels), table.txt, and per
#                    kernel NAME.console.log and NAME.results (its VMRESULT lines)
# Environment: SECCOMP_EBPF_VM_CACHE (default /var/cache/seccomp-ebpf-vm) holds downloaded kernels,
# built initramfs images, suite artifacts and the console logs of the last run.
# Exit status: 0 only if every kernel booted, every suite ran to its end marker with status 0,
# printed at least one VMRESULT line and reported no failed case.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cache=${SECCOMP_EBPF_VM_CACHE:-/var/cache/seccomp-ebpf-vm}
kernels_file=$here/kernels.txt
only_kernels=()
suites=()
cli_env=()
timeout_override=
results_dir=
max_jobs=${SECCOMP_EBPF_VM_JOBS:-}

die() { echo "run-matrix: $*" >&2; exit 2; }
log() { echo "run-matrix: $*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
        --kernels) kernels_file=$(realpath "${2:?--kernels needs a file}"); shift 2 ;;
        --kernel) only_kernels+=("${2:?--kernel needs a name}"); shift 2 ;;
        --suite) suites+=("${2:?--suite needs a name}"); shift 2 ;;
        --env) [[ ${2:-} == [A-Za-z_]*=* ]] || die "--env needs KEY=VALUE"; cli_env+=("$2"); shift 2 ;;
        --repo) repo_root=$(realpath "${2:?--repo needs a directory}"); shift 2 ;;
        --results) results_dir=$(realpath -m "${2:?--results needs a directory}"); shift 2 ;;
        --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs whole seconds"; timeout_override=$2; shift 2 ;;
        --jobs) max_jobs=${2:-}; [[ $max_jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a whole number of at least 1"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ ${#suites[@]} -gt 0 ] || suites=(probe)
if [ -z "$max_jobs" ]; then
    # One guest per core: each runs one TCG thread. Each also takes 2 GiB of guest memory (+ qemu's own).
    max_jobs=$(nproc)
    mem_jobs=$(( $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) / (3 * 1024 * 1024) ))
    [ "$mem_jobs" -ge "$max_jobs" ] || max_jobs=$mem_jobs
    [ "$max_jobs" -ge 1 ] || max_jobs=1
fi
[[ $max_jobs =~ ^[1-9][0-9]*$ ]] || die "SECCOMP_EBPF_VM_JOBS must be a whole number of at least 1 (is '$max_jobs')"
[ -f "$kernels_file" ] || die "kernel list $kernels_file does not exist"
[ -f "$repo_root/tests/vm/run-matrix.sh" ] || die "$repo_root is not a SeccompEbpf repository root"
[ "$(id -u)" = 0 ] || die "must run as root (apt-get, dpkg -x of kernel modules, qemu's 9p export of /)"

suite_limit() {
    # A suite states its in-guest limit in a "# vm-timeout-seconds: N" header line.
    local limit
    limit=$(sed -n 's/^# vm-timeout-seconds: *\([0-9]\+\).*/\1/p' "$1" | head -n 1)
    echo "${limit:-600}"
}
suite_total=0
for suite in "${suites[@]}"; do
    [[ $suite =~ ^[A-Za-z0-9_-]+$ ]] || die "bad suite name '$suite'"
    [ -f "$here/suites/$suite.sh" ] || die "no suite $suite (expected $here/suites/$suite.sh)"
    suite_total=$((suite_total + $(suite_limit "$here/suites/$suite.sh")))
done

# ---------------------------------------------------------------------------------------------
# Host tools, installed from the Debian archive when missing (kernel-independent).
ensure_tools() {
    local missing=() pair cmd pkg
    for pair in qemu-system-x86_64:qemu-system-x86 cpio:cpio depmod:kmod modinfo:kmod xz:xz-utils \
                zstd:zstd gzip:gzip; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" > /dev/null || missing+=("$pkg")
    done
    # The initramfs needs the static busybox; the dynamic one would lack its libraries there.
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
}

# ---------------------------------------------------------------------------------------------
# Kernel packages: newest match of the regex, downloaded and unpacked once into the cache.
apt_updated=""
# Sets pkg to the newest package name matching the regex (no subshell: apt_updated must persist).
resolve_package() {
    local regex=$1
    pkg=$(apt-cache pkgnames linux-image- | grep -E "^(${regex})\$" | sort -V | tail -n 1) || true
    if [ -z "$pkg" ] && [ -z "$apt_updated" ]; then
        # A fresh machine may not have fetched the lists of the suites apt-sources.sh added.
        log "no package matches $regex; adding this project's apt sources (sid for 7.x) and running apt-get update once"
        apt_updated=1
        "$repo_root/scripts/apt-sources.sh" >&2 || true
        apt-get -q update >&2 || true
        pkg=$(apt-cache pkgnames linux-image- | grep -E "^(${regex})\$" | sort -V | tail -n 1) || true
    fi
    [ -n "$pkg" ]
}

# Newest version of a package apt knows, pinned or not (sid is pinned at -1: it has no candidate, but its
# packages are still downloaded by exact version).
newest_version() {
    apt-cache show "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1
}

# Prints the directory holding vmlinuz, config, modules/ (the package's modules tree) and version.
# Two package layouts: bookworm/trixie's linux-image-* holds boot/vmlinuz-*, boot/config-* and lib/modules/;
# sid's 7.x linux-image-* is a meta package whose kernel (linux-binary-*: usr/lib/modules/VER/vmlinuz), config
# (linux-base-*: usr/lib/modules/VER/config) and modules (linux-modules-*) come as exact-version dependencies.
fetch_kernel() {
    local pkg=$1 version dir tmp deb dep
    version=$(newest_version "$pkg")
    [ -n "$version" ] || { log "apt-cache knows no version of $pkg"; return 1; }
    dir=$cache/kernels/${pkg}_${version}
    if [ ! -f "$dir/ready" ]; then
        log "downloading $pkg $version"
        rm -rf "$dir"; mkdir -p "$dir"
        tmp=$(mktemp -d "$cache/kernels/.fetch.XXXXXX")
        (cd "$tmp" && apt-get -q download -o APT::Sandbox::User=root "$pkg=$version" >&2) \
            || { rm -rf "$tmp"; log "apt-get download $pkg=$version failed"; return 1; }
        deb=$(ls "$tmp"/*.deb)
        dpkg -x "$deb" "$tmp/root"
        if ! ls "$tmp"/root/boot/vmlinuz-* > /dev/null 2>&1; then
            local parts=()
            while read -r dep; do parts+=("$dep"); done < <(apt-cache show "$pkg=$version" | sed -n 's/^Depends: //p' | tr ',' '\n' \
                | sed -n 's/^ *\(linux-\(binary\|base\|modules\)-[^ ]*\) (= \([^)]*\)).*/\1=\3/p')
            [ ${#parts[@]} -gt 0 ] || { rm -rf "$tmp"; log "$pkg has no boot/vmlinuz-* and names no linux-binary/base/modules package"; return 1; }
            log "$pkg is split: downloading ${parts[*]}"
            mkdir -p "$tmp/parts"
            (cd "$tmp/parts" && apt-get -q download -o APT::Sandbox::User=root "${parts[@]}" >&2) \
                || { rm -rf "$tmp"; log "apt-get download ${parts[*]} failed"; return 1; }
            for deb in "$tmp"/parts/*.deb; do dpkg -x "$deb" "$tmp/root"; done
        fi
        local vmlinuz config kver moddir
        vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* "$tmp"/root/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n 1)
        case $vmlinuz in
            */boot/vmlinuz-*) kver=${vmlinuz##*/vmlinuz-}; config=$(ls "$tmp"/root/boot/config-* 2>/dev/null | head -n 1) ;;
            *) kver=$(basename "$(dirname "$vmlinuz")"); config=$(dirname "$vmlinuz")/config ;;
        esac
        moddir=$(find "$tmp/root" -maxdepth 4 -type d -path "*/modules/$kver" | head -n 1)
        [ -f "$vmlinuz" ] && [ -f "$config" ] && [ -d "$moddir" ] \
            || { rm -rf "$tmp"; log "$pkg lacks a kernel image, its config or its modules"; return 1; }
        mv "$vmlinuz" "$dir/vmlinuz"; mv "$config" "$dir/config"; mv "$moddir" "$dir/modules"
        echo "$kver" > "$dir/kernel-release"
        echo "$version" > "$dir/package-version"
        rm -rf "$tmp"
        touch "$dir/ready"
    fi
    echo "$dir"
}

# Copies MODULE and everything it depends on (modinfo's depends field, recursively) into STAGE,
# decompressed, and appends them to STAGE/load.list in load order (dependencies first).
declare -A module_path module_done
index_modules() {
    local moddir=$1 file name
    module_path=(); module_done=()
    while IFS= read -r file; do
        name=${file##*/}; name=${name%%.ko*}; name=${name//-/_}
        module_path[$name]=$file
    done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
}
stage_module() {
    local name=${1//-/_} moddir=$2 stage=$3 src dest dep deps
    [ -z "${module_done[$name]:-}" ] || return 0
    module_done[$name]=1
    src=${module_path[$name]:-}
    if [ -z "$src" ]; then
        grep -q "/${name//_/[_-]}\.ko" "$moddir/modules.builtin" 2>/dev/null && return 0
        log "module $name is neither a file nor built in"; return 1
    fi
    dest=$stage/lib/modules/$kver/kernel/$name.ko
    case $src in
        *.xz) xz -dc "$src" > "$dest" ;;
        *.zst) zstd -qdc "$src" > "$dest" ;;
        *.gz) gzip -dc "$src" > "$dest" ;;
        *) cp "$src" "$dest" ;;
    esac
    deps=$(modinfo -F depends "$dest")
    for dep in ${deps//,/ }; do
        stage_module "$dep" "$moddir" "$stage" || return 1
    done
    echo "$name.ko" >> "$stage/load.list"
}

build_initramfs() {
    local kdir=$1 out=$2 stage
    kver=$(cat "$kdir/kernel-release")
    stage=$(mktemp -d "$cache/.initramfs.XXXXXX")
    mkdir -p "$stage/bin" "$stage/lib/modules/$kver/kernel" "$stage/modules"
    : > "$stage/load.list"
    cp /bin/busybox "$stage/bin/busybox"
    index_modules "$kdir/modules"
    local module
    # overlay: containerd's overlayfs snapshotter (e2e suite); the host's /lib/modules cannot serve the guest kernel.
    for module in 9pnet_virtio 9p virtio_pci overlay; do
        stage_module "$module" "$kdir/modules" "$stage" || { rm -rf "$stage"; return 1; }
    done
    cp "$kdir/modules/modules.builtin" "$kdir/modules/modules.builtin.modinfo" "$kdir/modules/modules.order" "$stage/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$stage" "$kver"
    for module in $(cat "$stage/load.list"); do
        ln "$stage/lib/modules/$kver/kernel/$module" "$stage/modules/$module"
    done
    mv "$stage/load.list" "$stage/modules/load.list"
    install -m 0755 "$here/guest-init.sh" "$stage/init"
    (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
    log "initramfs for $kver: modules $(tr '\n' ' ' < "$stage/modules/load.list")"
    rm -rf "$stage"
}

# "lsm=<default>,bpf" when the kernel has BPF LSM but its default LSM list lacks it; empty otherwise.
lsm_append() {
    local config=$1 lsm
    grep -q '^CONFIG_BPF_LSM=y' "$config" || { echo "none (CONFIG_BPF_LSM not set)"; return; }
    lsm=$(sed -n 's/^CONFIG_LSM="\(.*\)"/\1/p' "$config")
    case ",$lsm," in
        *,bpf,*) echo "" ;;
        *) echo "lsm=${lsm:+$lsm,}bpf" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
ensure_tools
mkdir -p "$cache/kernels" "$cache/runs" "$cache/artifacts"
# One run at a time per cache: runs/, artifacts/ and the kernel unpacking are shared.
exec 9> "$cache/.lock"
if ! flock -n 9; then
    log "another run-matrix.sh holds $cache/.lock; waiting for it"
    flock 9
fi
artifacts=$cache/artifacts

# Host-side preparation of each suite (building BPF objects, test assemblies, ...), once per run.
for suite in "${suites[@]}"; do
    if [ -f "$here/suites/$suite.host.sh" ]; then
        log "preparing suite $suite on the host"
        SECCOMP_EBPF_REPO_ROOT=$repo_root SECCOMP_EBPF_VM_ARTIFACTS=$artifacts \
            bash "$here/suites/$suite.host.sh" >&2 || die "host preparation of suite $suite failed"
    fi
done

qemu_pid=""
# What a guest kernel prints when it cannot finish (see the retry below).
guest_fault='Oops: [^ ]*|Kernel panic - not syncing[^\r]*|BUG: soft lockup[^!]*'
# An interrupted run (CI timeout, Ctrl-C) must not leave a guest running: the main shell stops the kernels'
# workers (subshells, see run_kernel), and each worker stops its own qemu.
stop_guest() { [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true; }
worker_pids=()
stop_workers() { local pid; for pid in "${worker_pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_workers EXIT
trap 'stop_workers; exit 130' INT TERM
declare -a rows=() used_kernels=() launched=()
total_pass=0; total_fail=0
if [ -n "$results_dir" ]; then rm -rf "$results_dir"; mkdir -p "$results_dir"; fi
failed=0
running=0
overall_start=$SECONDS

# Boots kernel $name with the settings the list loop below set (kdir, kernel_suites, kernel_env, ...), runs
# its suites and writes its table row to $rundir/row and "STATUS PASS FAIL" to $rundir/counts. It runs in a
# subshell of its own, next to other kernels' workers: everything it changes is in that subshell, $rundir or
# $results_dir/$name.*; the main shell assembles the table in the list's order once every worker has ended.
run_kernel() {
    trap stop_guest EXIT
    trap 'stop_guest; exit 143' TERM
    sed_pid=""
    if [ "$max_jobs" -gt 1 ]; then
        # Concurrent kernels interleave their lines: every line of this one names it.
        exec 4>&2 2> >(sed -u -e "/^run-matrix: $name: /b" -e "s/^run-matrix: /run-matrix: $name: /;t" -e "s/^/run-matrix: $name: /" >&4)
        sed_pid=$!
    fi
    if [ "$status" != ok ]; then
        :
    elif ! build_initramfs "$kdir" "$rundir/initrd.gz"; then
        status=FAIL; note="initramfs build failed"
    fi

    if [ "$status" = ok ]; then
        release=$(cat "$kdir/kernel-release")
        lsm_arg=$(lsm_append "$kdir/config")
        if [[ " ${extra_cmdline[*]} " == *" lsm="* ]]; then
            lsm_arg="given: $(printf '%s\n' "${extra_cmdline[@]}" | grep '^lsm=')"
        fi
        case $lsm_arg in
            given:*) lsm_note="set by kernels.txt (${lsm_arg#given: })"; lsm_arg="" ;;
            none*) log "$name ($release): $lsm_arg, BPF LSM cannot be enabled"; lsm_note=$lsm_arg; lsm_arg="" ;;
            "") lsm_note="not needed (CONFIG_LSM=\"$(sed -n 's/^CONFIG_LSM="\(.*\)"/\1/p' "$kdir/config")\")" ;;
            *) lsm_note="appended $lsm_arg" ;;
        esac
        log "$name: $pkg ($release); lsm: $lsm_note"
        case $lsm_note in
            appended*) lsm_shown="appended (default list + bpf)" ;;
            set\ by*) lsm_shown=$(printf '%s\n' "${extra_cmdline[@]}" | grep '^lsm=') ;;
            none*) lsm_shown="none (no BPF LSM)" ;;
            *) lsm_shown="not needed" ;;
        esac

        retried=""
        for attempt in 1 2; do
        status=ok; note=""; boot_s=-; suite_s=-; per_suite=""; mechanisms=-; errno_syscalls=-; pass=0; fail=0
        rm -f "$rundir/results"
        nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
        {
            printf 'export SECCOMP_EBPF_REPO_ROOT=%q\n' "$repo_root"
            printf 'export SECCOMP_EBPF_VM_ARTIFACTS=%q\n' "$artifacts"
            printf 'export SECCOMP_EBPF_VM_NONCE=%q\n' "$nonce"
            printf 'export SECCOMP_EBPF_VM_KERNEL=%q\n' "$name"
            printf 'export SECCOMP_EBPF_VM_KERNEL_CONFIG=%q\n' "$rundir/kernel-config"
            while IFS='=' read -r key value; do
                # The harness's own variables are set above; everything else (filters, expectations) passes.
                case $key in
                    SECCOMP_EBPF_REPO_ROOT|SECCOMP_EBPF_VM_CACHE|SECCOMP_EBPF_VM_ARTIFACTS|SECCOMP_EBPF_VM_NONCE|\
                    SECCOMP_EBPF_VM_KERNEL|SECCOMP_EBPF_VM_KERNEL_CONFIG|SECCOMP_EBPF_VM_SUITE|SECCOMP_EBPF_VM_JOBS) continue ;;
                esac
                printf 'export %s=%q\n' "$key" "$value"
            done < <(env | grep -E '^SECCOMP_EBPF_[A-Za-z0-9_]*=' || true)
            for assignment in "${kernel_env[@]}"; do
                printf 'export %s=%q\n' "${assignment%%=*}" "${assignment#*=}"
            done
            for assignment in "${cli_env[@]}"; do
                printf 'export %s=%q\n' "${assignment%%=*}" "${assignment#*=}"
            done
        } > "$rundir/guest-env"
        for suite in "${kernel_suites[@]}"; do
            echo "$suite $(suite_limit "$here/suites/$suite.sh")"
        done > "$rundir/suites"
        install -m 0755 "$here/guest-run.sh" "$rundir/guest-run.sh"
        cp "$kdir/config" "$rundir/kernel-config"
        printf '%s\n' "$repo_root" "$rundir" "$artifacts" > "$rundir/keep-paths"

        limit=${timeout_override:-$((240 + suite_total))}
        # no_timer_check: under TCG on a busy host the kernel's IO-APIC timer check can miss its ticks and panic
        # ("IO-APIC + timer doesn't work") before init; the check proves nothing about what the suites test.
        append="console=ttyS0 loglevel=2 panic=-1 no_timer_check $lsm_arg ${extra_cmdline[*]} seccomp_ebpf_vm_nonce=$nonce seccomp_ebpf_vm_run=$rundir"
        echo "qemu append: $append" > "$rundir/qemu-cmdline"
        : > "$console"
        start=$SECONDS
        qemu-system-x86_64 -accel "$accel" -cpu max -m 2048 -smp "$smp" -nographic -no-reboot \
            -kernel "$kdir/vmlinuz" -initrd "$rundir/initrd.gz" -append "$append" \
            -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
            < /dev/null > "$console" 2>&1 &
        qemu_pid=$!
        log "$name: booting (pid $qemu_pid, limit ${limit}s, console $console)"
        booted=""
        seen_suites=""
        while kill -0 "$qemu_pid" 2>/dev/null; do
            if [ -z "$booted" ] && grep -aq "SECCOMP-EBPF-VM-BEGIN nonce=$nonce" "$console"; then
                booted=1; log "$name: booted, running suites"
            fi
            # Progress: report each suite's end as it happens.
            while read -r line; do
                [ -n "$line" ] && [[ $seen_suites != *"<$line>"* ]] || continue
                seen_suites="$seen_suites<$line>"; log "$name: finished ${line#*nonce="$nonce" }"
            done < <(grep -ao "SECCOMP-EBPF-VM-SUITE-END nonce=$nonce suite=[^ ]* rc=[0-9]*" "$console" || true)
            # A guest kernel that oopsed, panicked or locked up will not finish: stop it now rather than at the limit.
            if fault=$(grep -ao -m 1 -E "$guest_fault" "$console"); then
                log "$name: guest kernel fault ($fault), stopping qemu"
                kill "$qemu_pid" 2>/dev/null || true
                sleep 2; kill -9 "$qemu_pid" 2>/dev/null || true
                note="guest kernel fault: $fault"
                break
            fi
            if [ $((SECONDS - start)) -ge "$limit" ]; then
                log "$name: no end after ${limit}s, stopping qemu"
                kill "$qemu_pid" 2>/dev/null || true
                sleep 2; kill -9 "$qemu_pid" 2>/dev/null || true
                note="timeout after ${limit}s"
                break
            fi
            sleep 1
        done
        wait "$qemu_pid" 2>/dev/null || true
        qemu_pid=""
        wall_s=$((SECONDS - start))
        tr -d '\r' < "$console" > "$console.tmp" && mv "$console.tmp" "$console"
        # A guest that faulted and exited (panic=-1) before the loop above looked is a fault all the same.
        if [[ $note != *"guest kernel fault"* ]] && fault=$(grep -ao -m 1 -E "$guest_fault" "$console"); then
            note="${note:+$note; }guest kernel fault: $fault"
        fi

        # Times come from the guest's own uptime at each marker (the TCG guest clock follows the
        # host's): boot = kernel start to the chroot, suite = chroot to power-off.
        marker() { grep -ao "SECCOMP-EBPF-VM-$1 nonce=$nonce.*" "$console" | tail -n 1 || true; }
        uptime_of() { sed -n 's/.* uptime=\([0-9.]*\).*/\1/p' <<< "$1"; }
        begin_line=$(marker BEGIN)
        end_line=$(marker END)
        if [ -z "$begin_line" ]; then
            status=FAIL; note="${note:+$note; }guest did not boot (no begin marker)"
            init_error=$(marker INIT-ERROR)
            [ -z "$init_error" ] || note="$note: ${init_error#*nonce="$nonce" }"
            log "$name: last console lines:"; tail -n 15 "$console" | sed 's/^/  | /' >&2
        else
            boot_s=$(uptime_of "$begin_line")
            if [ -z "$end_line" ]; then
                status=FAIL; note="${note:+$note; }no end marker"
            else
                suite_s=$(awk -v a="$boot_s" -v b="$(uptime_of "$end_line")" 'BEGIN { printf "%.1f", b - a }')
                rc=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<< "$end_line")
                [ "$rc" = 0 ] || { status=FAIL; note="${note:+$note; }in-guest exit status $rc"; }
            fi
        fi

        # Per-suite accounting from the console: every suite must have ended and printed VMRESULT lines.
        for suite in "${kernel_suites[@]}"; do
            section=$(awk -v n="$nonce" -v s="$suite" '
                index($0, "SECCOMP-EBPF-VM-SUITE-BEGIN nonce=" n " suite=" s " ") { on=1; next }
                index($0, "SECCOMP-EBPF-VM-SUITE-END nonce=" n " suite=" s " ") { on=0 }
                on && match($0, /VMRESULT .*/) { print substr($0, RSTART) }' "$console")
            suite_end=$(grep -ao "SECCOMP-EBPF-VM-SUITE-END nonce=$nonce suite=$suite rc=[0-9]*" "$console" || true)
            if [ -n "$begin_line" ] && [ -z "$suite_end" ]; then
                status=FAIL; note="${note:+$note; }suite $suite did not finish"
            elif [ -n "$suite_end" ] && [ "${suite_end##*rc=}" != 0 ]; then
                status=FAIL; note="${note:+$note; }suite $suite exit ${suite_end##*rc=}"
            fi
            if [ -n "$begin_line" ] && [ -z "$section" ]; then
                status=FAIL; note="${note:+$note; }suite $suite printed no VMRESULT line"
            fi
            suite_begin=$(grep -ao "SECCOMP-EBPF-VM-SUITE-BEGIN nonce=$nonce suite=$suite .*" "$console" | head -n 1 || true)
            suite_end_full=$(grep -ao "SECCOMP-EBPF-VM-SUITE-END nonce=$nonce suite=$suite .*" "$console" | head -n 1 || true)
            if [ -n "$suite_begin" ] && [ -n "$suite_end_full" ]; then
                per_suite="$per_suite $suite:$(awk -v a="$(uptime_of "$suite_begin")" -v b="$(uptime_of "$suite_end_full")" 'BEGIN { printf "%.1f", b - a }')s"
            fi
            printf '%s\n' "$section" | sed "/^\$/d; s/^VMRESULT /VMRESULT suite=$suite /" >> "$rundir/results"
        done
        touch "$rundir/results"
        fields() { grep -o " $1=[^ ]*" "$rundir/results" | cut -d= -f2- || true; }
        mechanisms=$({ grep ' available=yes' "$rundir/results" || true; } | { grep -o ' mechanism=[^ ]*' || true; } | cut -d= -f2 | sort -u | paste -sd, -)
        errno_syscalls=$(fields errno_syscall | sort -u | paste -sd, -)
        sum() { awk '{ n += $1 } END { print n + 0 }'; }
        pass=$(( $(grep -c ' result=pass' "$rundir/results" || true) + $(fields tests_passed | sum) ))
        fail=$(( $(grep -c ' result=fail' "$rundir/results" || true) + $(fields tests_failed | sum) ))
        [ "$fail" = 0 ] || { status=FAIL; note="${note:+$note; }$fail failed case(s)"; }
        log "$name: wall ${wall_s}s, boot ${boot_s}s, suites ${suite_s}s (${per_suite# })"
        [ -n "$mechanisms" ] || mechanisms=-
        [ -n "$errno_syscalls" ] || errno_syscalls=-
        if [ "$status" != ok ]; then
            log "$name: FAILED ($note); console log: $console"
            grep -a ' result=fail' "$rundir/results" | sed 's/^/  /' >&2 || true
            # A failed xunit case: its name and the start of its message and stack, so that CI's own output says
            # which test failed and why (the console log does not outlive CI's clone).
            awk '/^[[:space:]]*Failed [^ ]/ { n = 25 } n > 0 { print "  | " $0; n-- }' "$console" | head -n 120 >&2 || true
        fi
        # Multi-threaded TCG left the guest kernel's code patching incoherent across vCPUs (text_poke_bp, as sys_enter is
        # switched on and off: int3 oopses, soft lockups; docs/vm.md), hence single-threaded TCG by default (accel= above).
        # A guest that faults anyway is booted once more, and the table says so; the first console stays.
        if [ "$status" != ok ] && [ "$attempt" = 1 ] && [[ $note == *"guest kernel fault"* ]]; then
            cp "$console" "$rundir/console.attempt1.log"
            log "$name: booting it once more after the guest kernel fault (console kept as $rundir/console.attempt1.log)"
            retried=$note
            continue
        fi
        break
        done
        [ -z "$retried" ] || note="${note:+$note; }retried once after: ${retried#*guest kernel fault: }"
    else
        log "$name: FAILED ($note)"
    fi
    # A kernel that failed without a failed case (no boot, timeout, missing suite) still counts as one.
    if [ "$status" != ok ] && [ "$fail" = 0 ]; then fail=1; fi
    if [ -n "$results_dir" ]; then
        [ ! -f "$rundir/console.log" ] || cp "$rundir/console.log" "$results_dir/$name.console.log"
        [ ! -f "$rundir/results" ] || cp "$rundir/results" "$results_dir/$name.results"
    fi
    errno_count=0
    [ "$errno_syscalls" = - ] || errno_count=$(tr ',' '\n' <<< "$errno_syscalls" | grep -c .)
    echo "$status $pass $fail" > "$rundir/counts"
    # The syscall list goes last: it is long, and the columns before it stay readable.
    echo "$name|$release|${lsm_shown:-?}|$mechanisms|$errno_count|$pass/$fail|$boot_s|$suite_s|${per_suite# }|$status${note:+ ($note)}|$errno_syscalls" > "$rundir/row.tmp"
    mv "$rundir/row.tmp" "$rundir/row"
    if [ -n "$sed_pid" ]; then exec 2>&4; wait "$sed_pid" || true; fi
}

while read -r -u 3 name regex kernel_env_line; do
    [ -n "${name:-}" ] && [[ $name != \#* ]] || continue
    if [ ${#only_kernels[@]} -gt 0 ] && [[ " ${only_kernels[*]} " != *" $name "* ]]; then continue; fi

    status=ok; boot_s=-; suite_s=-; release='?'; lsm_shown=""; lsm_arg=""; note=""; per_suite=""
    kernel_env=(); extra_cmdline=(); accel=tcg,thread=single; smp=2; only_suites=""
    for token in ${kernel_env_line%%#*}; do
        case $token in
            cmdline:*) extra_cmdline+=("${token#cmdline:}") ;;
            accel:*) accel=${token#accel:} ;;
            smp:*) smp=${token#smp:} ;;
            suites:*) only_suites=",${token#suites:}," ;;
            [A-Za-z_]*=*) kernel_env+=("$token") ;;
            *) die "$kernels_file: '$token' (kernel $name) is neither KEY=VALUE, cmdline:ARG, accel:QEMU-ACCEL, smp:N nor suites:A,B" ;;
        esac
    done
    # suites:A,B in kernels.txt narrows the requested suites for this kernel (the table says which ran).
    kernel_suites=()
    for suite in "${suites[@]}"; do
        [ -z "$only_suites" ] || [[ $only_suites == *",$suite,"* ]] && kernel_suites+=("$suite")
    done
    if [ ${#kernel_suites[@]} -eq 0 ]; then
        log "$name: none of the requested suites (${suites[*]}) is among this kernel's (${only_suites//,/ }); skipped"
        continue
    fi
    mechanisms=-; errno_syscalls=-; pass=0; fail=0
    rundir=$cache/runs/$name
    rm -rf "$rundir"; mkdir -p "$rundir"
    console=$rundir/console.log

    kdir=""
    if ! resolve_package "$regex"; then
        status=FAIL; note="no package matches $regex"
    elif ! kdir=$(fetch_kernel "$pkg"); then
        # The archive may have moved on since apt-cache's lists were fetched: a kernel of this
        # entry that is already cached still tests the same series, so use it and say so.
        kdir=$(ls -d "$cache"/kernels/*/ready 2>/dev/null | sed 's|/ready$||' \
            | while read -r d; do b=${d##*/}; [[ ${b%%_*} =~ ^(${regex})$ ]] && echo "$d"; done | sort -V | tail -n 1 || true)
        if [ -n "$kdir" ]; then
            log "$name: download of $pkg failed; using the cached ${kdir##*/}"
        else
            status=FAIL; note="download of $pkg failed"
        fi
    fi
    [ -z "$kdir" ] || used_kernels+=("$kdir")
    launched+=("$name")
    # Downloads and unpacking above stay in this shell, one at a time (two entries may share a package).
    if [ "$running" -ge "$max_jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_kernel &
    worker_pids+=($!)
    running=$((running + 1))
done 3< "$kernels_file"

[ ${#launched[@]} -gt 0 ] || die "no kernel of $kernels_file was selected"
for pid in "${worker_pids[@]}"; do wait "$pid" || true; done
worker_pids=()
for name in "${launched[@]}"; do
    rundir=$cache/runs/$name
    if [ -f "$rundir/row" ] && read -r k_status k_pass k_fail < "$rundir/counts"; then
        rows+=("$(cat "$rundir/row")")
    else
        k_status=FAIL; k_pass=0; k_fail=1
        rows+=("$name|?|?|-|0|0/1|-|-||FAIL (its harness worker ended without a result)|-")
    fi
    [ "$k_status" = ok ] || failed=1
    total_pass=$((total_pass + k_pass)); total_fail=$((total_fail + k_fail))
done

# After a run over the whole list, unpacked kernels no entry uses any more (superseded ABIs) go.
if [ ${#only_kernels[@]} -eq 0 ] && [ "$failed" = 0 ]; then
    for dir in "$cache"/kernels/*/; do
        dir=${dir%/}
        [[ " ${used_kernels[*]} " == *" $dir "* ]] || { log "removing unused cached kernel ${dir##*/}"; rm -rf "$dir"; }
    done
fi

table() {
    {
        echo "kernel|release|lsm= on cmdline|mechanisms available|errno verified|cases pass/fail|boot s|suites s|per suite|status|errno syscalls"
        printf '%s\n' "${rows[@]}"
    } | awk -F'|' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > nf) nf = NF }
    END { for (r = 1; r <= NR; r++) { line = ""; for (i = 1; i <= nf; i++) line = line sprintf(i < nf ? "%-" w[i] "s  " : "%s", cell[r, i]); print line } }'
}
echo
echo "Kernel matrix (suites: ${suites[*]}; total $((SECONDS - overall_start))s; logs under $cache/runs/)"
table
if [ -n "$results_dir" ]; then
    table > "$results_dir/table.txt"
    echo "$total_pass" > "$results_dir/passed"
    echo "$total_fail" > "$results_dir/failed"
fi
exit "$failed"
