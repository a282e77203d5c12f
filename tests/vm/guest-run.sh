#!/bin/bash
# Runs inside the guest, chrooted into the host's root (read-only 9p) by tests/vm/guest-init.sh.
# run-matrix.sh copies it into the run directory, next to guest-env (exports for the suites) and
# suites (one "NAME TIMEOUT-SECONDS" per line); each suite runs from the repository root under
# `timeout` and is bracketed by markers that carry the guest's uptime.
set -u
rundir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The console is a tty: keep tools from colouring what the harness parses.
export HOME=/tmp/home TMPDIR=/tmp TERM=dumb NO_COLOR=1
export DOTNET_CLI_HOME=/tmp/home DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=false DOTNET_SKIP_WORKLOAD_INTEGRITY_CHECK=1 NUGET_PACKAGES=/tmp/home/.nuget/packages
mkdir -p "$HOME"
# shellcheck source=/dev/null
. "$rundir/guest-env"

cd "$SECCOMP_EBPF_REPO_ROOT" || { echo "guest-run: repository root $SECCOMP_EBPF_REPO_ROOT is missing"; exit 2; }

uptime_now() { cut -d' ' -f1 /proc/uptime; }
overall=0
while read -r suite limit; do
    [ -n "$suite" ] || continue
    script="$SECCOMP_EBPF_REPO_ROOT/tests/vm/suites/$suite.sh"
    echo "SECCOMP-EBPF-VM-SUITE-BEGIN nonce=$SECCOMP_EBPF_VM_NONCE suite=$suite uptime=$(uptime_now)"
    SECCOMP_EBPF_VM_SUITE=$suite timeout --kill-after=10 "$limit" bash "$script"
    rc=$?
    [ "$rc" = 124 ] && echo "guest-run: suite $suite exceeded its ${limit}s limit"
    echo "SECCOMP-EBPF-VM-SUITE-END nonce=$SECCOMP_EBPF_VM_NONCE suite=$suite rc=$rc uptime=$(uptime_now)"
    [ "$rc" = 0 ] || overall=1
done < "$rundir/suites"

if [ "$overall" != 0 ]; then
    # Context for a failure: the kernel's own view (verifier refusals, oopses) of the last moments.
    dmesg 2>/dev/null | tail -n 40 | sed 's/^/DMESG /'
fi
exit "$overall"
