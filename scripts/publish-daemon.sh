#!/usr/bin/env bash
# Publishes the seccomp-ebpf daemon/CLI into OUTDIR exactly as it is installed (install.sh) and benchmarked
# (bench/SeccompEbpf.Daemon.Benchmarks/run.sh), so the figures in docs/performance.md are those of what runs on nodes.
#   scripts/publish-daemon.sh [--image] OUTDIR [extra dotnet publish arguments]
# Self-contained, trimmed, composite ReadyToRun (docs/performance.md has the figures, and says why not Native AOT):
# - the .NET runtime comes along and is precompiled with the daemon as one version bubble, so the generic code the
#   framework and the daemon share is not JIT-compiled at start (a framework-dependent ReadyToRun start compiled
#   ~1,700 methods, this one ~800);
# - trimmed in partial mode, which trims only the framework's own trimmable assemblies (this project's,
#   KubernetesClient and YamlDotNet stay whole, so reflection over them is unaffected): 133 -> 82 MB, and less
#   resident code. Trimming would also switch reflection-based System.Text.Json off; the daemon serializes with it
#   (/readyz, the control socket), so it stays on: tests/SeccompEbpf.E2E.Tests' DaemonSetImageTests caught that.
# --image: for the container image (scripts/build-image.sh, config/kubernetes/Containerfile): linux-x64 whatever
# the build machine. Idempotent: publishing again replaces OUTDIR's files.
set -euo pipefail
rid=(--use-current-runtime)
if [ "${1:-}" = --image ]; then
    rid=(-r linux-x64)
    shift
fi
[ $# -ge 1 ] || { echo "usage: $0 [--image] OUTDIR [dotnet publish arguments]" >&2; exit 2; }
out=$1; shift
src="$(cd "$(dirname "$0")/.." && pwd)"
dotnet publish "$src/plugin/SeccompEbpf/SeccompEbpf.csproj" -c Release "${rid[@]}" --self-contained true \
    -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true \
    -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o "$out" -nologo -v q -clp:ErrorsOnly "$@"
