#!/usr/bin/env bash
# SeccompEbpf's test command: installs what the tests need, builds, and runs every tier.
#
#   ./test.sh                 all tiers (what CI runs)
#   TIERS="unit e2e" ./test.sh   a subset, for development only: CI always runs every tier
#
# Tiers: unit (NRI library, profile engine), bpf (real BPF programs in this host's kernel), e2e (a real containerd
# with NRI driven through the CRI: the system's 1.7, then a private 2.x for the lifecycle and policy tests),
# try (the README's install command on this machine for real, scripts/try.sh against it, then --uninstall), vm (stock
# Debian kernels under qemu, where BPF LSM can deny with errno).
# A tier that runs no test, skips a test, or does not run at all fails the whole run.
# The compat (i386) cases run in the bpf tier when this kernel runs i386 binaries (probed), else in every vm kernel;
# the summary says where they ran, and the run fails if they ran nowhere that should have run them.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
all_tiers="unit bpf e2e try vm"
tiers=${TIERS:-$all_tiers}
if [ "${CI:-}" = true ] && [ "$tiers" != "$all_tiers" ]; then
    echo "test.sh: CI runs every tier; TIERS is for development only" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the bpf, e2e and vm tiers load BPF programs and run containerd: run as root" >&2
    exit 2
fi

started=$(date +%s)
results="$root/.build/test-results"
rm -rf "$results"
mkdir -p "$results"

echo "== dependencies"
scripts/install-deps.sh runtime build test
command -v dotnet >/dev/null || { echo "test.sh: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }
# dotnet-stack: an e2e test whose daemon stops logging progress prints the daemon's managed stacks (DaemonProcess), on
# the host and in the qemu guests (which see this root). Diagnostics only: without it the tests say it is missing.
stack_tools=/opt/seccomp-ebpf-test-tools
if [ ! -x "$stack_tools/dotnet-stack" ]; then
    dotnet tool install --tool-path "$stack_tools" dotnet-stack --version 10.0.750501 > /dev/null \
        || echo "test.sh: could not install dotnet-stack into $stack_tools: a hung daemon's stacks will not be shown" >&2
fi

if [[ " $tiers " == *" unit "* ]]; then
    # trixie's kernel UAPI headers, unpacked privately: SyscallTableHeaderTests checks the syscall tables against them.
    SECCOMP_EBPF_UAPI_INCLUDE=$(scripts/install-uapi-headers.sh trixie)
    export SECCOMP_EBPF_UAPI_INCLUDE
fi

if [[ " $tiers " == *" e2e "* ]]; then
    # containerd 2.x, unpacked privately beside the system's 1.7 (never installed over it).
    containerd2_bin=$(scripts/install-containerd2.sh)
    # ContainerdRegistrationTests check install.sh's registration against 2.x's own config.
    export SECCOMP_EBPF_CONTAINERD2_BIN=$containerd2_bin
fi

echo "== build"
make -s -C tests/native
dotnet build SeccompEbpf.sln -c Release -nologo -v q -clp:ErrorsOnly

# Where the compat (i386) cases can run: this kernel, or only the qemu guests (Debian's kernels have IA32 emulation).
# SECCOMP_EBPF_ASSUME_NO_IA32=1 (development only) takes the no-i386 route on a host that has IA32 emulation, to
# exercise it here; CI runs whatever the probe finds.
if [ "${SECCOMP_EBPF_ASSUME_NO_IA32:-}" = 1 ] && [ "${CI:-}" != true ]; then
    host_ia32=no
    ia32_error="SECCOMP_EBPF_ASSUME_NO_IA32=1"
    echo "test.sh: SECCOMP_EBPF_ASSUME_NO_IA32=1: the compat cases run in the vm tier only" >&2
elif ia32_error=$(tests/native/bin/ia32-probe 2>&1); then
    host_ia32=yes
else
    host_ia32=no
    ia32_error=$(tail -n 1 <<< "$ia32_error")
    echo "test.sh: this kernel cannot run i386 binaries (${ia32_error:-ia32-probe failed}): the compat cases run in the vm tier only" >&2
fi

declare -A tier_pass tier_fail tier_secs
rows=()
compat_host=0

# Counts the results of tests whose name contains PATTERN with outcome OUTCOME in a trx file.
trx_count() {
    local trx=$1 pattern=$2 outcome=$3
    [ -f "$trx" ] || { echo 0; return; }
    grep -o '<UnitTestResult [^>]*>' "$trx" | grep -F "$pattern" | grep -c " outcome=\"$outcome\"" || true
}

# Runs one test project; records counts from its trx file under ROW (a summary row: tier plus what it ran against).
run_dotnet_tier() {
    local tier=$1 project=$2 filter=${3:-} row=${4:-$1}
    local name out trx t0 rc=0
    name=$(basename "$project")
    out="$results/${row//[^A-Za-z0-9.-]/_}"
    t0=$(date +%s)
    [[ " ${rows[*]} " == *" $row "* ]] || rows+=("$row")
    echo "== tier $tier: $name${filter:+ ($filter)}${4:+ [$4]}"
    dotnet test "$project" -c Release --no-build --nologo ${filter:+--filter "$filter"} \
        --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
        --results-directory "$out" || rc=$?
    trx="$out/$name.trx"
    local passed=0 failed=0 total=0 executed=0
    if [ -f "$trx" ]; then
        counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
        total=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
        executed=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
        passed=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
        failed=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
    fi
    local skipped=$(( ${total:-0} - ${executed:-0} ))
    if [ ! -f "$trx" ] || [ "${total:-0}" = 0 ]; then
        echo "test.sh: tier $tier ($name) ran no test" >&2
        failed=$(( failed + 1 ))
    elif [ "$rc" != 0 ] && [ "${failed:-0}" = 0 ]; then
        echo "test.sh: tier $tier ($name) exited $rc without a failed test (crash or abort)" >&2
        failed=1
    fi
    if [ "$skipped" -gt 0 ]; then
        echo "test.sh: tier $tier ($name) skipped $skipped tests; skipped is not passed" >&2
        failed=$(( failed + skipped ))
    fi
    tier_pass[$row]=$(( ${tier_pass[$row]:-0} + ${passed:-0} ))
    tier_fail[$row]=$(( ${tier_fail[$row]:-0} + ${failed:-0} ))
    tier_secs[$row]=$(( ${tier_secs[$row]:-0} + $(date +%s) - t0 ))
    last_trx=$trx
}

# Tests that start a containerd print its version first (ContainerdInstance.StartAsync requires a report callback).
# STRICT: every test of the run must have, as in the Containerd=every runs against another containerd.
check_containerd_reports() {
    local row=$1 trx=$2 version=$3 strict=${4:-} executed reported
    # Per result element: did its output carry ContainerdInstance's line "containerd VERSION (PATH, config version N)"?
    read -r executed reported < <(awk -v needle="containerd $version (" '
        /<UnitTestResult / { open = 1; hit = 0; counted = ($0 ~ /outcome="(Passed|Failed)"/) }
        open && index($0, needle) && index($0, "config version") { hit = 1 }
        open && (/<\/UnitTestResult>/ || /<UnitTestResult [^>]*\/>/) { if (counted) { n++; if (hit) r++ } open = 0 }
        END { print n + 0, r + 0 }' "$trx" 2>/dev/null || echo "0 0")
    echo "test.sh: $row: $reported of $executed tests ran against containerd $version${strict:+ (all must)}"
    if [ "$reported" = 0 ] || { [ -n "$strict" ] && [ "$reported" -lt "$executed" ]; }; then
        echo "test.sh: $row: tests that did not report containerd $version" >&2
        tier_fail[$row]=$(( ${tier_fail[$row]:-0} + 1 ))
    fi
}

# The machine's own containerd (not the e2e tier's private ones): started by hand, by install.sh, or by systemd.
system_containerd_pids() {
    local pid
    for pid in $(pgrep -x containerd); do
        case "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" in
            "containerd "|"/usr/bin/containerd "|"containerd --config /etc/containerd/config.toml ") echo "$pid" ;;
        esac
    done
    return 0
}

for tier in $tiers; do
    case "$tier" in
        unit)
            run_dotnet_tier unit tests/SeccompEbpf.Nri.Tests
            run_dotnet_tier unit tests/SeccompEbpf.Profiles.Tests
            run_dotnet_tier unit tests/SeccompEbpf.Lifecycle.Tests
            ;;
        bpf)
            if [ "$host_ia32" = yes ]; then
                run_dotnet_tier bpf tests/SeccompEbpf.Bpf.Tests
                compat_host=$(trx_count "$last_trx" CompatArchTests Passed)
            else
                run_dotnet_tier bpf tests/SeccompEbpf.Bpf.Tests "Category!=compat32" "bpf (no i386 here)"
            fi
            ;;
        e2e)
            # ERRNO scenarios need BPF LSM: they run in the vm tier (Category=vm), not on this host.
            v1=$(containerd --version | awk '{ print $3 }')
            # The DaemonSet's image (DaemonSetImageTests run it); from a clean clone this is its build's CI time.
            t0=$(date +%s)
            scripts/build-image.sh
            echo "test.sh: DaemonSet image ready in $(( $(date +%s) - t0 )) s"
            run_dotnet_tier e2e tests/SeccompEbpf.E2E.Tests "Category!=vm" "e2e containerd $v1"
            check_containerd_reports "e2e containerd $v1" "$last_trx" "$v1"
            # containerd 2.x: the classes marked Containerd=every (NRI lifecycle, policies) again, with a version 3 config.
            v2=$("$containerd2_bin/containerd" --version | awk '{ print $3 }')
            SECCOMP_EBPF_CONTAINERD_BIN=$containerd2_bin \
                run_dotnet_tier e2e tests/SeccompEbpf.E2E.Tests "Category!=vm&Containerd=every" "e2e containerd $v2"
            check_containerd_reports "e2e containerd $v2" "$last_trx" "$v2" strict
            ;;
        try)
            # What a newcomer runs: ./install.sh for real (the system containerd, /usr/local, /etc/seccomp-ebpf), the demo
            # against it, and --uninstall. A containerd this tier started is stopped again, so the machine is left as found.
            t0=$(date +%s)
            rows+=(try)
            tier_pass[try]=0 tier_fail[try]=0
            containerd_before=$(system_containerd_pids)
            try_step() {
                local name=$1 log="$results/try-$1.log"
                shift
                echo "== tier try: $name"
                if "$@" > "$log" 2>&1; then
                    tier_pass[try]=$(( tier_pass[try] + 1 ))
                    tail -n 40 "$log"
                else
                    echo "test.sh: tier try: '$*' failed; its output:" >&2
                    cat "$log" >&2
                    tier_fail[try]=$(( tier_fail[try] + 1 ))
                fi
            }
            try_step install ./install.sh
            try_step try.sh scripts/try.sh
            try_step uninstall ./install.sh --uninstall
            if [ -z "$containerd_before" ]; then
                pids=$(system_containerd_pids)
                [ -z "$pids" ] || { kill $pids; echo "test.sh: tier try: stopped the containerd it started (pid $(echo $pids))"; }
            fi
            tier_secs[try]=$(( $(date +%s) - t0 ))
            ;;
        vm)
            t0=$(date +%s)
            vm_pass=0 vm_fail=0
            # Each run: stock Debian kernels booted under qemu TCG with this host's root over 9p (tests/vm).
            #  1. every kernel of tests/vm/kernels.txt: what the kernel allows (probe), the engine's capability
            #     probe and ERRNO/KILL-prevention tests, and the BPF-vs-seccomp differential;
            #  2. one kernel: the ERRNO scenario end to end through containerd (TCG makes it too slow for all).
            # run-matrix.sh boots the kernels of a run concurrently, one guest per host core (--jobs, default nproc;
            # SECCOMP_EBPF_VM_JOBS overrides it): each single-threaded TCG guest keeps one core busy.
            vm_run() {
                local name=$1 p f rc=0
                shift
                echo "== tier vm: qemu kernel matrix, $name"
                "$@" --repo "$root" --results "$results/vm-$name" || rc=$?
                p=$(cat "$results/vm-$name/passed" 2>/dev/null || echo 0)
                f=$(cat "$results/vm-$name/failed" 2>/dev/null || echo 0)
                if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
                if [ "$p" = 0 ] && [ "$f" = 0 ]; then
                    echo "test.sh: tier vm ($name) ran no test" >&2
                    f=1
                fi
                vm_pass=$(( vm_pass + p )); vm_fail=$(( vm_fail + f ))
            }
            # TaskCacheTests: the per-task binding cache (task storage in raw_tp) on each kernel; SeccompFloorTests: the kernel
            # seccomp floor where the LSM hooks attach too. CompatArchTests run in every
            # guest when this host cannot run them; VMTEST lines say where they ran.
            vm_filter="FullyQualifiedName~CapabilityTests|FullyQualifiedName~BpfDifferential|FullyQualifiedName~ErrnoCoverage|FullyQualifiedName~TaskCacheTests|FullyQualifiedName~SeccompFloorTests"
            [ "$host_ia32" = yes ] || vm_filter="$vm_filter|FullyQualifiedName~CompatArchTests"
            vm_run engine env \
                SECCOMP_EBPF_VM_DOTNET_TESTS=tests/SeccompEbpf.Bpf.Tests/bin/Release/net10.0/SeccompEbpf.Bpf.Tests.dll \
                "SECCOMP_EBPF_VM_DOTNET_FILTER=$vm_filter" \
                SECCOMP_EBPF_VM_DOTNET_REPORT=CompatArchTests \
                tests/vm/run-matrix.sh --suite probe --suite dotnet
            vm_run e2e tests/vm/run-matrix.sh --kernel 6.12 --kernel 7.x --suite e2e
            rows+=(vm)
            tier_pass[vm]=$vm_pass
            tier_fail[vm]=$vm_fail
            tier_secs[vm]=$(( $(date +%s) - t0 ))
            ;;
        *)
            echo "test.sh: unknown tier '$tier' ($all_tiers)" >&2
            exit 2
            ;;
    esac
done

# Where the compat (i386) cases ran: the host's bpf tier (when it can run i386) and each vm kernel.
compat_summary() {
    local log kernel passed failed where=() missing=0
    if [[ " $tiers " == *" bpf "* ]]; then
        if [ "$host_ia32" = yes ]; then
            where+=("host bpf tier: $compat_host passed")
            [ "$compat_host" -gt 0 ] || { echo "test.sh: the host runs i386 binaries but no compat case passed in the bpf tier" >&2; missing=1; }
        else
            where+=("host: not run (no i386 binaries: ${ia32_error:-exec failed})")
        fi
    fi
    if [[ " $tiers " == *" vm "* ]] && [ "$host_ia32" = yes ]; then
        where+=("vm: not run (the host ran them)")
    elif [[ " $tiers " == *" vm "* ]]; then
        for log in "$results"/vm-engine/*.console.log; do
            [ -f "$log" ] || continue
            kernel=$(basename "$log" .console.log)
            # A kernel that runs no engine suite (suites:probe in tests/vm/kernels.txt) runs no compat case either.
            if ! grep -aq 'SECCOMP-EBPF-VM-SUITE-BEGIN .* suite=dotnet ' "$log"; then
                where+=("vm $kernel: not run (no engine suite on this kernel)")
                continue
            fi
            passed=$(grep -ac 'VMTEST .*outcome=Passed .*CompatArchTests' "$log" || true)
            failed=$(grep -a 'VMTEST .*CompatArchTests' "$log" | grep -vc 'outcome=Passed' || true)
            if [ "$failed" = 0 ]; then where+=("vm $kernel: $passed passed"); else where+=("vm $kernel: $passed passed, $failed not passed"); fi
            [ "$passed" -gt 0 ] || { echo "test.sh: no compat case passed in the $kernel guest" >&2; missing=1; }
        done
        [ -n "$(ls "$results"/vm-engine/*.console.log 2>/dev/null)" ] || { echo "test.sh: the vm tier left no guest log: the compat cases did not run there" >&2; missing=1; }
    fi
    [ ${#where[@]} -eq 0 ] || echo "compat (i386) cases: $(printf '%s; ' "${where[@]}" | sed 's/; $//')"
    return "$missing"
}

total_pass=0
total_fail=0
echo
echo "== summary"
printf '%-34s %8s %8s %8s\n' tier passed failed seconds
for row in "${rows[@]}"; do
    printf '%-34s %8s %8s %8s\n' "$row" "${tier_pass[$row]:-0}" "${tier_fail[$row]:-0}" "${tier_secs[$row]:-0}"
    total_pass=$(( total_pass + ${tier_pass[$row]:-0} ))
    total_fail=$(( total_fail + ${tier_fail[$row]:-0} ))
done
compat_summary || total_fail=$(( total_fail + 1 ))
for table in "$results"/vm-*/table.txt; do
    [ -f "$table" ] || continue
    echo
    echo "vm $(basename "$(dirname "$table")" | sed 's/^vm-//'): per-kernel table"
    cat "$table"
done
elapsed=$(( $(date +%s) - started ))
# CI's budget for this run is 40 minutes on 2 cores (its hard limit is 90).
echo "total time: $elapsed s (budget 2400 s$([ "$elapsed" -le 2400 ] || echo ', OVER BUDGET'))"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
