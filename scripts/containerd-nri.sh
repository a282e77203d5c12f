#!/usr/bin/env bash
# Registers SeccompEbpf with containerd by making sure NRI is enabled in containerd's config.
#   containerd-nri.sh enable CONFIG [--external]   containerd 1.7 (version = 2): ensure [plugins."io.containerd.nri.v1.nri"]
#                                                  has disable = false (and disable_connections = false with --external);
#                                                  containerd 2.x (version = 3) enables NRI by default: a config without
#                                                  the section is left intact, one that disables NRI is switched on.
#   containerd-nri.sh restrict-oom CONFIG          set restrict_oom_score_adj = true in the CRI runtime's section (1.7:
#                                                  plugins."io.containerd.grpc.v1.cri", 2.x: plugins.'io.containerd.cri.v1.runtime'),
#                                                  for machines where the runtime cannot lower oom_score_adj (install.sh probes).
#   containerd-nri.sh restore CONFIG               put back the original saved by the first change.
# Prints "changed" or "unchanged". The original is kept once, as CONFIG.seccomp-ebpf.orig.
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] || usage
action=$1 config=$2 external=false
[ "${3:-}" = --external ] && external=true
backup="$config.seccomp-ebpf.orig"

case "$action" in
    restore)
        if [ -f "$backup.absent" ]; then
            # There was no config before install: remove the one we generated.
            rm -f "$config" "$backup.absent"
            echo changed
        elif [ -f "$backup" ]; then
            mv -f "$backup" "$config"
            echo changed
        else
            echo unchanged
        fi
        exit 0
        ;;
    enable|restrict-oom) ;;
    *) usage ;;
esac

if [ ! -f "$config" ]; then
    mkdir -p "$(dirname "$config")"
    if command -v containerd >/dev/null; then
        containerd config default > "$config"
    else
        printf 'version = 2\n' > "$config"
    fi
    : > "$backup.absent"
fi

version=$(sed -n 's/^[[:space:]]*version[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$config" | head -1)
# Saves the original once, then writes $1 over the config; prints changed or unchanged.
replace_config() {
    if cmp -s "$1" "$config"; then
        rm -f "$1"
        echo unchanged
        return
    fi
    [ -f "$backup" ] || [ -f "$backup.absent" ] || cp -p "$config" "$backup"
    cat "$1" > "$config"
    rm -f "$1"
    echo changed
}

if [ "$action" = restrict-oom ]; then
    if [ "${version:-1}" -ge 3 ]; then
        cri_section="[plugins.'io.containerd.cri.v1.runtime']"
        cri_header='^[[:space:]]*\[plugins\.["\047]io\.containerd\.cri\.v1\.runtime["\047]\][[:space:]]*$'
    else
        cri_section='[plugins."io.containerd.grpc.v1.cri"]'
        cri_header='^[[:space:]]*\[plugins\.["\047]io\.containerd\.grpc\.v1\.cri["\047]\][[:space:]]*$'
    fi
    tmp=$(mktemp)
    awk -v h="$cri_header" -v section="$cri_section" '
        /^[[:space:]]*\[/ {
            if (in_cri && !set) { print "  restrict_oom_score_adj = true"; set = 1 }
            in_cri = ($0 ~ h)
            if (in_cri) seen = 1
        }
        in_cri && /^[[:space:]]*restrict_oom_score_adj[[:space:]]*=/ { sub(/=.*/, "= true"); set = 1 }
        { print }
        END {
            if (in_cri && !set) print "  restrict_oom_score_adj = true"
            if (!seen) { print ""; print section; print "  restrict_oom_score_adj = true" }
        }' "$config" > "$tmp"
    replace_config "$tmp"
    exit 0
fi

# 2.x (version 3) enables NRI unless its section says otherwise: only an existing section is edited there.
add_missing=true
[ "${version:-1}" -ge 3 ] && add_missing=false

# The section header in either TOML quoting: "..." (1.7's config default) or '...' (2.x's).
nri_header='^[[:space:]]*\[plugins\.["\047]io\.containerd\.nri\.v1\.nri["\047]\][[:space:]]*$'
tmp=$(mktemp)
awk -v external="$external" -v add_missing="$add_missing" -v nri_header="$nri_header" '
    function header(line) { return line ~ /^[[:space:]]*\[/ }
    {
        if (header($0)) {
            in_nri = ($0 ~ nri_header)
            if (in_nri) seen = 1
        }
        if (in_nri && $0 ~ /^[[:space:]]*disable[[:space:]]*=/) { sub(/=.*/, "= false") }
        if (in_nri && external == "true" && $0 ~ /^[[:space:]]*disable_connections[[:space:]]*=/) { sub(/=.*/, "= false") }
        print
    }
    END {
        if (!seen && add_missing == "true") {
            print ""
            print "[plugins.\"io.containerd.nri.v1.nri\"]"
            print "  disable = false"
            print "  disable_connections = false"
            print "  plugin_config_path = \"/etc/nri/conf.d\""
            print "  plugin_path = \"/opt/nri/plugins\""
            print "  plugin_registration_timeout = \"5s\""
            print "  plugin_request_timeout = \"2s\""
            print "  socket_path = \"/var/run/nri/nri.sock\""
        }
    }' "$config" > "$tmp"

# A section that had no "disable" key at all still means disabled on 1.7: add it (2.x's default is enabled).
if $add_missing && ! awk -v h="$nri_header" '/^[[:space:]]*\[/ { s = ($0 ~ h) } s && /^[[:space:]]*disable[[:space:]]*=/ { f = 1 } END { exit !f }' "$tmp"; then
    awk -v h="$nri_header" '{ print } $0 ~ h { print "  disable = false" }' "$tmp" > "$tmp.2"
    mv "$tmp.2" "$tmp"
fi

replace_config "$tmp"
