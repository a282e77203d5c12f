#!/usr/bin/env bash
# Try SeccompEbpf without Kubernetes, on the containerd that ./install.sh set up (two minutes, then it cleans up):
#   1. a profile that logs uname(2), in the daemon's profile directory;
#   2. a busybox pod annotated with it, calling uname every second (`seccomp-ebpf pod run`, the CLI's CRI client);
#   3. `seccomp-ebpf ps` and `seccomp-ebpf events`: the pod's policy, how this kernel enforces it, the logged calls;
#   4. the profile edited in place to kill on uname: the running pod's next uname is killed, no restart;
#   5. pod, profile and anything this script imported are removed again.
# Each step prints the command it runs. Exits non-zero if the product did not do what a step shows.
#   sudo scripts/try.sh [--keep]     --keep leaves the pod and the profile in place for a look around
set -euo pipefail

keep=false
case "${1:-}" in
    --keep) keep=true ;;
    "") ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "try.sh: unknown option '$1' (--keep)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "try.sh: run as root (it talks to containerd's and the daemon's sockets)" >&2; exit 1; }

cli=$(command -v seccomp-ebpf || echo /usr/local/bin/seccomp-ebpf)
cri=/run/containerd/containerd.sock
profiles=/etc/seccomp-ebpf/profiles
profile=try-uname
pod=default/seccomp-ebpf-try
image=localhost/seccomp-ebpf-try/busybox:1
ctr=(ctr --address "$cri" --namespace k8s.io)
imported=()

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$'; printf ' %q' "$@"; echo; "$@"; }
# The last lines only: the daemon keeps recent events of earlier pods of the same name too.
show_last() { printf '$'; printf ' %q' "$@"; echo ' | tail -n 5'; "$@" | tail -n 5; }
fail() { echo "try.sh: $*" >&2; exit 1; }

[ -x "$cli" ] || fail "seccomp-ebpf is not installed: run ./install.sh first"
"$cli" ps >/dev/null 2>&1 || fail "the seccomp-ebpf daemon does not answer ($cli ps failed): run ./install.sh, or see /var/log/seccomp-ebpf.log"
[ -S "$cri" ] || fail "containerd's socket $cri is missing: is containerd running?"
# The demo image is this host's static busybox (Debian's busybox-static).
"$(dirname "$0")/install-deps.sh" try

cleanup() {
    $keep && { echo; echo "try.sh: --keep: remove with: $cli pod rm $pod; rm $profiles/$profile.json"; return; }
    step "cleaning up"
    "$cli" pod rm "$pod" || true
    rm -f "$profiles/$profile.json"
    for ref in "${imported[@]}"; do "${ctr[@]}" images rm "$ref" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# An image from the host's static busybox, so the demo needs no registry (docker-archive layout, which ctr imports).
import_busybox() {
    local tag=$1 entry=$2 dir layer_sha config config_sha
    dir=$(mktemp -d)
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/tmp" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/etc"
    cp /bin/busybox "$dir/rootfs/bin/busybox"
    for applet in sh sleep uname echo cat; do ln -s busybox "$dir/rootfs/bin/$applet"; done
    tar -C "$dir/rootfs" --owner=0 --group=0 --numeric-owner --sort=name -cf "$dir/layer.tar" .
    layer_sha=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
    mkdir "$dir/archive" "$dir/archive/$layer_sha"
    mv "$dir/layer.tar" "$dir/archive/$layer_sha/layer.tar"
    config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":$entry,\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sha\"]}}"
    config_sha=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
    printf '%s' "$config" > "$dir/archive/$config_sha.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config_sha" "$tag" "$layer_sha" > "$dir/archive/manifest.json"
    tar -C "$dir/archive" -cf "$dir/image.tar" .
    "${ctr[@]}" images import "$dir/image.tar" >/dev/null
    rm -rf "$dir"
    imported+=("$tag")
}

have_image() { "${ctr[@]}" images ls -q | grep -qxF "$1"; }

step "an image for the demo pod"
if ! have_image "$image"; then
    import_busybox "$image" '["/bin/sh"]'
    echo "imported $image, built from this host's /bin/busybox"
fi
# Every pod needs the runtime's sandbox ("pause") image. An offline host cannot pull it: a stand-in that sleeps does the
# same job for this demo, and is removed again at the end.
sandbox_image=$(containerd config dump 2>/dev/null | sed -n 's/^ *\(sandbox_image\|sandbox\) = "\(.*\)"/\2/p' | head -1)
if [ -n "$sandbox_image" ] && ! have_image "$sandbox_image" && ! timeout 60 "${ctr[@]}" images pull "$sandbox_image" >/dev/null 2>&1; then
    import_busybox "$sandbox_image" '["/bin/sleep","2147483647"]'
    echo "could not pull $sandbox_image (offline?): imported a busybox stand-in under that name for this demo"
fi

step "a profile that logs uname(2), in the daemon's profile directory"
mkdir -p "$profiles"
cat > "$profiles/$profile.json" <<'JSON'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_LOG"}]
}
JSON
show cat "$profiles/$profile.json"

step "a pod annotated with it, calling uname every second"
"$cli" pod rm "$pod" >/dev/null 2>&1 || true
show "$cli" pod run "$pod" --image "$image" --annotation "seccomp-ebpf.io/profile=$profile" \
    -- /bin/sh -c 'while true; do uname -n || echo "uname was killed (exit status $?)"; sleep 1; done'

step "what the daemon enforces on it"
sleep 3
show "$cli" ps
"$cli" ps --json | grep -q "\"profile\": *\"$profile\"" || fail "ps does not show the pod under profile $profile"

step "the calls it logged"
show_last "$cli" events --pod "$pod"
"$cli" events --pod "$pod" | grep -q 'uname(' || fail "no uname event was logged for $pod"

step "editing the profile of the running pod: kill on uname"
show sed -i 's/SCMP_ACT_LOG/SCMP_ACT_KILL_PROCESS/' "$profiles/$profile.json"
killed=false
for _ in $(seq 50); do
    if "$cli" pod logs "$pod" | grep -q 'uname was killed'; then killed=true; break; fi
    sleep 0.2
done
sleep 1
show_last "$cli" pod logs "$pod"
$killed || fail "no uname was killed within 10 s of the edit"
show_last "$cli" events --pod "$pod"
"$cli" events --pod "$pod" | grep -qi 'uname(.*kill' || fail "no kill event for uname after the edit"
show "$cli" pod status "$pod"
echo
echo "try.sh: the profile changed under the running pod and the kernel enforced it at the next call, without a restart."
