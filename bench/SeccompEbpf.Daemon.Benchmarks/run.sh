#!/usr/bin/env bash
# One command for the daemon figures (docs/performance.md): start to registered, NRI handler latency cold and warm,
# RSS idle and with 100/500 bound containers, for the daemon as install.sh publishes it.
#   sudo bench/SeccompEbpf.Daemon.Benchmarks/run.sh [--cold-runs 10] [--measured 2000] [--containers 500] [--env NAME=VALUE]...
# Root and BPF: it runs the real daemon, binding real cgroups (a scratch cgroup, removed at the end) with real maps.
# SECCOMP_EBPF_BENCH_DAEMON=DIR measures an already published daemon in DIR instead (e.g. another publish mode).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
daemon=${SECCOMP_EBPF_BENCH_DAEMON:-}
if [ -z "$daemon" ]; then
    make -s -C "$src/bpf"
    "$src/scripts/publish-daemon.sh" "$out/daemon"
    daemon="$out/daemon"
fi
dotnet build "$here" -c Release -o "$out/harness" -nologo -v q -clp:ErrorsOnly >/dev/null
dotnet "$out/harness/SeccompEbpf.Daemon.Benchmarks.dll" --daemon "$daemon/seccomp-ebpf" "$@"
