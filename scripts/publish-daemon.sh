#!/usr/bin/env bash
# Publishes the seccomp-ebpf daemon/CLI into OUTDIR exactly as it is installed (install.sh) and benchmarked
# (bench/SeccompEbpf.Daemon.Benchmarks/run.sh), so the figures in docs/performance.md are those of what runs on nodes.
#   scripts/publish-daemon.sh OUTDIR [extra dotnet publish arguments]
# ReadyToRun, framework-dependent, for this machine's runtime identifier: the start-up and first-event figures in
# docs/performance.md say why (and why not Native AOT). Idempotent: publishing again replaces OUTDIR's files.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [dotnet publish arguments]" >&2; exit 2; }
out=$1; shift
src="$(cd "$(dirname "$0")/.." && pwd)"
dotnet publish "$src/plugin/SeccompEbpf/SeccompEbpf.csproj" -c Release --use-current-runtime --self-contained false \
    -p:PublishReadyToRun=true -o "$out" -nologo -v q -clp:ErrorsOnly "$@"
