#!/usr/bin/env bash
# One command: per-syscall cost of the enforcement engine against the bare syscall, the no-op sys_enter floor and
# kernel seccomp, interleaved, then kernel memory per bound profile. Run it alone: other BPF programs and load distort it.
#   sudo bench/bpf/run.sh [iterations [rounds]]     (default 1000000 getppid calls per sample, 7 rounds)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
make -s -C "$here"
dotnet build -c Release --nologo -v q "$here/BpfBench" >/dev/null
exec dotnet "$here/BpfBench/bin/Release/net10.0/SeccompEbpf.Bpf.Bench.dll" "$here/bin/getppid-loop" "${1:-1000000}" "${2:-7}"
