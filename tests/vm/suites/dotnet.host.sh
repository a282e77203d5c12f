#!/bin/bash
# Host-side preparation of the dotnet suite: decides which xunit assemblies run in the guest and
# builds them here (the guest is ~25x slower). SECCOMP_EBPF_VM_DOTNET_TESTS holds space-separated
# entries, each a built test .dll or a test project (.csproj or its directory), relative to the
# repository root or absolute; projects are built in Release into $SECCOMP_EBPF_VM_ARTIFACTS/dotnet/.
# A prebuilt .dll runs in place (tests may find native helpers by absolute paths baked in at build
# time), except outside the repository under /tmp, /var/tmp or /run, which the guest covers with tmpfs:
# then its output directory is copied into the artifacts. Default: tests/SeccompEbpf.Bpf.Tests.
# The assembly paths go to .../dotnet/tests.list.
set -euo pipefail
out=$SECCOMP_EBPF_VM_ARTIFACTS/dotnet
entries=${SECCOMP_EBPF_VM_DOTNET_TESTS:-tests/SeccompEbpf.Bpf.Tests}
mkdir -p "$out"
list=$out/tests.list.new
: > "$list"
for entry in $entries; do
    [[ $entry == /* ]] || entry=$SECCOMP_EBPF_REPO_ROOT/$entry
    case $entry in
        *.dll)
            [ -f "$entry" ] || { echo "dotnet.host: test assembly $entry does not exist" >&2; exit 1; }
            entry=$(realpath "$entry")
            case $entry in
                "$SECCOMP_EBPF_REPO_ROOT"/*) echo "$entry" >> "$list" ;;
                /tmp/*|/var/tmp/*|/run/*)
                    name=$(basename "${entry%.dll}")
                    rm -rf "${out:?}/$name"
                    cp -a "$(dirname "$entry")" "$out/$name"
                    echo "$out/$name/$name.dll" >> "$list" ;;
                *) echo "$entry" >> "$list" ;;
            esac ;;
        *)
            project=$entry
            if [ -d "$project" ]; then
                project=$(ls "$project"/*.csproj 2>/dev/null | head -n 1) || true
            fi
            [ -f "$project" ] || { echo "dotnet.host: no test project at $entry" >&2; exit 1; }
            name=$(basename "${project%.csproj}")
            rm -rf "${out:?}/$name"
            echo "dotnet.host: building $project"
            dotnet build -c Release --nologo -v quiet "$project" -o "$out/$name"
            [ -f "$out/$name/$name.dll" ] || { echo "dotnet.host: build produced no $out/$name/$name.dll" >&2; exit 1; }
            echo "$out/$name/$name.dll" >> "$list" ;;
    esac
done
mv "$list" "$out/tests.list"
echo "dotnet.host: test assemblies: $(tr '\n' ' ' < "$out/tests.list")"
