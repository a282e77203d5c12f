#!/usr/bin/env bash
# Publishes the seccomp-ebpf daemon/CLI into OUTDIR exactly as it is installed (install.sh) and benchmarked
# (bench/SeccompEbpf.Daemon.Benchmarks/run.sh), so the figures in docs/performance.md are those of what runs on nodes.
#   scripts/publish-daemon.sh [--self-contained] OUTDIR [extra dotnet publish arguments]
# ReadyToRun, framework-dependent, for this machine's runtime identifier: the start-up and first-event figures in
# docs/performance.md say why (and why not Native AOT). Idempotent: publishing again replaces OUTDIR's files.
# --self-contained: the container image's form (scripts/build-image.sh, config/kubernetes/Containerfile): the
# runtime comes along, trimmed in partial mode, which trims only the framework's own trimmable assemblies (this
# project's, KubernetesClient and YamlDotNet stay whole, so reflection over them is unaffected): 114 MB -> 70 MB.
# Trimming would also switch reflection-based System.Text.Json off; the daemon serializes with it (/readyz,
# the control socket), so it stays on: tests/SeccompEbpf.E2E.Tests' DaemonSetImageTests caught that.
set -euo pipefail
form=(--use-current-runtime --self-contained false)
if [ "${1:-}" = --self-contained ]; then
    form=(-r linux-x64 --self-contained true -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true
        -p:JsonSerializerIsReflectionEnabledByDefault=true)
    shift
fi
[ $# -ge 1 ] || { echo "usage: $0 [--self-contained] OUTDIR [dotnet publish arguments]" >&2; exit 2; }
out=$1; shift
src="$(cd "$(dirname "$0")/.." && pwd)"
dotnet publish "$src/plugin/SeccompEbpf/SeccompEbpf.csproj" -c Release "${form[@]}" \
    -p:PublishReadyToRun=true -o "$out" -nologo -v q -clp:ErrorsOnly "$@"
