#!/usr/bin/env bash
# One command: per-syscall cost of the enforcement engine and kernel memory per bound profile.
#   sudo bench/bpf/run.sh [iterations]     (default 3000000 getppid calls, median of 3 runs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
make -s -C "$here"
dotnet build -c Release --nologo -v q "$here/BpfBench" >/dev/null
exec dotnet "$here/BpfBench/bin/Release/net10.0/SeccompEbpf.Bpf.Bench.dll" "$here/bin/getppid-loop" "${1:-3000000}"
