#!/usr/bin/env bash
# SeccompEbpf's test command: installs what the tests need, builds, and runs every tier.
#
#   ./test.sh                 all tiers (what CI runs)
#   TIERS="unit e2e" ./test.sh   a subset, for development only: CI always runs every tier
#
# Tiers: unit (NRI library, profile engine), bpf (real BPF programs in this host's kernel), e2e (a real containerd
# with NRI driven through the CRI), vm (stock Debian kernels under qemu, where BPF LSM can deny with errno).
# A tier that runs no test, skips a test, or does not run at all fails the whole run.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
all_tiers="unit bpf e2e vm"
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

echo "== build"
make -s -C tests/native
dotnet build SeccompEbpf.sln -c Release -nologo -v q -clp:ErrorsOnly

declare -A tier_pass tier_fail tier_skip tier_secs
summary_rows=()

# Runs one test project; records counts from its trx file.
run_dotnet_tier() {
    local tier=$1 project=$2 filter=${3:-}
    local name out trx t0 rc=0
    name=$(basename "$project")
    out="$results/$tier"
    t0=$(date +%s)
    echo "== tier $tier: $name"
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
    tier_pass[$tier]=$(( ${tier_pass[$tier]:-0} + ${passed:-0} ))
    tier_fail[$tier]=$(( ${tier_fail[$tier]:-0} + ${failed:-0} ))
    tier_secs[$tier]=$(( ${tier_secs[$tier]:-0} + $(date +%s) - t0 ))
}

for tier in $tiers; do
    case "$tier" in
        unit)
            run_dotnet_tier unit tests/SeccompEbpf.Nri.Tests
            run_dotnet_tier unit tests/SeccompEbpf.Profiles.Tests
            ;;
        bpf)
            run_dotnet_tier bpf tests/SeccompEbpf.Bpf.Tests
            ;;
        e2e)
            # ERRNO scenarios need BPF LSM: they run in the vm tier (Category=vm), not on this host.
            run_dotnet_tier e2e tests/SeccompEbpf.E2E.Tests "Category!=vm"
            ;;
        vm)
            t0=$(date +%s)
            vm_pass=0 vm_fail=0
            # Each run: stock Debian kernels booted under qemu TCG with this host's root over 9p (tests/vm).
            #  1. every kernel of tests/vm/kernels.txt: what the kernel allows (probe), the engine's capability
            #     probe and ERRNO/KILL-prevention tests, and the BPF-vs-seccomp differential;
            #  2. one kernel: the ERRNO scenario end to end through containerd (TCG makes it too slow for all).
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
            vm_run engine env \
                SECCOMP_EBPF_VM_DOTNET_TESTS=tests/SeccompEbpf.Bpf.Tests/bin/Release/net10.0/SeccompEbpf.Bpf.Tests.dll \
                "SECCOMP_EBPF_VM_DOTNET_FILTER=FullyQualifiedName~CapabilityTests|FullyQualifiedName~BpfDifferential|FullyQualifiedName~ErrnoCoverage" \
                tests/vm/run-matrix.sh --suite probe --suite dotnet
            vm_run e2e tests/vm/run-matrix.sh --kernel 6.12 --suite e2e
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

total_pass=0
total_fail=0
echo
echo "== summary"
printf '%-6s %8s %8s %8s\n' tier passed failed seconds
for tier in $tiers; do
    printf '%-6s %8s %8s %8s\n' "$tier" "${tier_pass[$tier]:-0}" "${tier_fail[$tier]:-0}" "${tier_secs[$tier]:-0}"
    total_pass=$(( total_pass + ${tier_pass[$tier]:-0} ))
    total_fail=$(( total_fail + ${tier_fail[$tier]:-0} ))
done
for table in "$results"/vm-*/table.txt; do
    [ -f "$table" ] || continue
    echo
    echo "vm $(basename "$(dirname "$table")" | sed 's/^vm-//'): per-kernel table"
    cat "$table"
done
echo "total time: $(( $(date +%s) - started )) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
