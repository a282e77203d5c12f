#!/usr/bin/env bash
# Prints the newest version of a Debian package the configured apt sources serve, optionally only from one release or
# only versions matching a regex. A machine whose lists predate apt-sources.sh's entries gets them, and the lists are
# fetched once, before giving up. Prints nothing and exits 1 when no version matches.
#   scripts/served-version.sh PACKAGE [--release RELEASE] [--version-regex ERE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
package=$1; shift
release='' version_regex=''
while [ $# -gt 0 ]; do
    case $1 in
        --release) release=$2; shift 2 ;;
        --version-regex) version_regex=$2; shift 2 ;;
        *) echo "served-version: unknown argument $1" >&2; exit 2 ;;
    esac
done

newest() {
    apt-cache madison "$package" 2>/dev/null \
        | awk -F'|' -v r="$release" 'r == "" || $3 ~ (" " r "/") { gsub(/ /, "", $2); print $2 }' \
        | { if [ -n "$version_regex" ]; then grep -E "^(${version_regex})" || true; else cat; fi; } \
        | sort -V | tail -n 1
}
version=$(newest)
if [ -z "$version" ]; then
    "$here/apt-sources.sh" >&2
    apt-get update -q >&2
    version=$(newest)
fi
[ -n "$version" ] || exit 1
echo "$version"
