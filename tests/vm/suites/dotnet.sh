#!/bin/bash
# vm-timeout-seconds: 1800
# In-guest suite: runs the xunit assemblies dotnet.host.sh built (listed in
# $SECCOMP_EBPF_VM_ARTIFACTS/dotnet/tests.list) with `dotnet test <dll>`, optionally narrowed by the
# VSTest filter in SECCOMP_EBPF_VM_DOTNET_FILTER (e.g. "FullyQualifiedName~Lsm"). .NET runs ~25x
# slower under TCG, hence the long limit. Prints per assembly:
#   VMRESULT dotnet_assembly=NAME tests_total=N tests_passed=N tests_failed=N tests_skipped=N seconds=S
# An assembly that ran no test at all, or whose run failed without a failed test, is a failed case.
# SECCOMP_EBPF_VM_DOTNET_REPORT (a substring of test names, e.g. CompatArchTests) also prints, per matching test,
#   VMTEST assembly=NAME outcome=Passed|Failed|NotExecuted test=FULL_NAME
# so the host can say which cases ran in which guest (these lines are not counted as cases).
# VMRESULT lines the tests themselves write to stdout reach the console too and are counted.
set -u
# SECCOMP_EBPF_VM_DOTNET_LIST lets another suite (e2e) reuse this runner with its own assembly list.
list=${SECCOMP_EBPF_VM_DOTNET_LIST:-$SECCOMP_EBPF_VM_ARTIFACTS/dotnet/tests.list}
filter=${SECCOMP_EBPF_VM_DOTNET_FILTER:-}
# vstest waits 90 s for its test host by default; a .NET process start alone takes seconds here.
export VSTEST_CONNECTION_TIMEOUT=900
failures=0
[ -s "$list" ] || { echo "VMRESULT case=dotnet_assemblies_listed result=fail detail=${list}_is_missing_or_empty"; exit 1; }
command -v dotnet > /dev/null || { echo "VMRESULT case=dotnet_present result=fail detail=no_dotnet_on_PATH"; exit 1; }

while read -r dll; do
    [ -n "$dll" ] || continue
    name=$(basename "${dll%.dll}")
    results=/tmp/dotnet-results/$name
    rm -rf "$results"
    start=$(cut -d' ' -f1 /proc/uptime)
    echo "dotnet: running $dll${filter:+ with filter $filter}"
    dotnet test "$dll" ${filter:+--filter "$filter"} --results-directory "$results" \
        --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal"
    rc=$?
    seconds=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
    counters=$(grep -o '<Counters [^>]*>' "$results/$name.trx" 2>/dev/null | head -n 1)
    if [ -z "$counters" ]; then
        echo "VMRESULT case=dotnet_$name result=fail detail=no_test_results_(exit_$rc) seconds=$seconds"
        failures=$((failures + 1)); continue
    fi
    counter() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<< "$counters"; }
    total=$(counter total); passed=$(counter passed); failed=$(counter failed); skipped=$(counter notExecuted)
    echo "VMRESULT dotnet_assembly=$name tests_total=$total tests_passed=$passed tests_failed=$failed tests_skipped=${skipped:-0} seconds=$seconds"
    if [ -n "${SECCOMP_EBPF_VM_DOTNET_REPORT:-}" ]; then
        grep -o '<UnitTestResult [^>]*>' "$results/$name.trx" | while read -r result; do
            test_name=$(sed -n 's/.* testName="\([^"]*\)".*/\1/p' <<< "$result")
            outcome=$(sed -n 's/.* outcome="\([^"]*\)".*/\1/p' <<< "$result")
            [[ $test_name == *"$SECCOMP_EBPF_VM_DOTNET_REPORT"* ]] || continue
            echo "VMTEST assembly=$name outcome=$outcome test=${test_name// /_}"
        done
    fi
    if [ "${total:-0}" = 0 ]; then
        echo "VMRESULT case=dotnet_${name}_ran_tests result=fail detail=no_test_matched${filter:+_filter_${filter// /_}}"
        failures=$((failures + 1))
    elif [ "$rc" != 0 ] && [ "${failed:-0}" = 0 ]; then
        echo "VMRESULT case=dotnet_${name}_exit result=fail detail=dotnet_test_exit_${rc}_without_failed_test"
        failures=$((failures + 1))
    elif [ "${failed:-0}" != 0 ]; then
        failures=$((failures + 1))
    fi
done < "$list"
[ "$failures" = 0 ]
