#!/usr/bin/env bash
# Adds Debian trixie (pinned low), bookworm-backports and sid (pinned at -1: never installed, only
# `apt-get download`ed by exact version into private prefixes: containerd 2.x, the newest kernel for the qemu
# matrix) to apt, reusing the archive URI that this machine's existing Debian source entry already names. No archive host is written into this repository:
# the machine's own configuration decides where packages come from.
set -euo pipefail

list_dir=/etc/apt/sources.list.d
prefs_dir=/etc/apt/preferences.d
target="$list_dir/seccomp-ebpf-extra.sources"

debian_uri() {
    # deb822 entries first (Debian 12 default), then one-line entries.
    local f uri
    for f in "$list_dir"/*.sources; do
        [ -e "$f" ] || continue
        [ "$f" = "$target" ] && continue
        uri=$(awk '
            /^URIs:/ { u=$2 }
            /^Suites:/ { for (i=2;i<=NF;i++) if ($i ~ /^(bookworm|trixie)$/) s=1 }
            /^$/ { if (u!="" && s && !done) { print u; done=1 } u=""; s=0 }
            END { if (u!="" && s && !done) print u }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list "$list_dir"/*.list; do
        [ -e "$f" ] || continue
        uri=$(awk '$1=="deb" && $0 ~ / (bookworm|trixie) / { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    return 1
}

uri=$(debian_uri) || { echo "apt-sources: no Debian bookworm/trixie source entry found to copy the archive URI from" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

want=$(cat <<SRC
# Written by SeccompEbpf's scripts/apt-sources.sh from this machine's own Debian source entry.
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $keyring

Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: $keyring

Types: deb
URIs: $uri
Suites: sid
Components: main
Signed-By: $keyring
SRC
)
if [ ! -f "$target" ] || [ "$(cat "$target")" != "$want" ]; then
    printf '%s\n' "$want" > "$target"
fi

# trixie only where asked for by name (containerd); nothing else upgrades from it.
cat > "$prefs_dir/seccomp-ebpf-trixie" <<PREF
Package: *
Pin: release n=trixie
Pin-Priority: 100
PREF

# sid is never a candidate for installation: its packages are only downloaded by exact version and
# unpacked privately (scripts/install-containerd2.sh, tests/vm/run-matrix.sh).
cat > "$prefs_dir/seccomp-ebpf-sid" <<PREF
Package: *
Pin: release n=sid
Pin-Priority: -1
PREF
