#!/usr/bin/env bash
# SeccompEbpf installer: dependencies, build, install, register with containerd, start the daemon.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: ./install.sh [options]

Installs SeccompEbpf on this Debian/Ubuntu machine and starts it. Run as root; safe to run again.

  --mode external       (default) the daemon runs as its own service and connects to containerd's NRI socket
  --mode preinstalled   containerd launches the plugin itself from its NRI plugin_path (/opt/nri/plugins)
  --prefix DIR          install under DIR (default /usr/local): DIR/lib/seccomp-ebpf, DIR/bin/seccomp-ebpf
  --containerd-config F containerd's config file (default /etc/containerd/config.toml)
  --no-start            install and register, but do not (re)start containerd or the daemon
  --uninstall           stop the daemon, remove what install.sh added, detach the BPF programs and
                        restore containerd's original config
  -h, --help            this text

What it does:
  1. installs Debian packages: containerd 1.7 (NRI) from trixie pinned low, runc, libbpf 1.4 and bpftool from
     bookworm-backports, clang-19 (apt sources are derived from this machine's own Debian entries)
  2. builds the BPF object and the .NET daemon, installs them to PREFIX
  3. writes /etc/seccomp-ebpf/config.json (kept if present) and /etc/seccomp-ebpf/profiles/
  4. enables NRI in containerd 1.7 configs (keeps a backup: CONFIG.seccomp-ebpf.orig); 2.x configs are left intact;
     where this machine cannot lower oom_score_adj, sets containerd's restrict_oom_score_adj (else no pod starts)
  5. starts the daemon: a systemd unit where systemd runs, else a background process logging to
     /var/log/seccomp-ebpf.log (pid in /run/seccomp-ebpf.pid); in preinstalled mode containerd starts it
USAGE
}

mode=external prefix=/usr/local containerd_config=/etc/containerd/config.toml start=true uninstall=false
while [ $# -gt 0 ]; do
    case "$1" in
        --mode) mode=${2:?--mode needs external or preinstalled}; shift 2 ;;
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --containerd-config) containerd_config=${2:?--containerd-config needs a file}; shift 2 ;;
        --no-start) start=false; shift ;;
        --uninstall) uninstall=true; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$mode" in external|preinstalled) ;; *) echo "install.sh: --mode must be external or preinstalled" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

src=$(cd "$(dirname "$0")" && pwd)
libdir="$prefix/lib/seccomp-ebpf"
bin="$prefix/bin/seccomp-ebpf"
etc=/etc/seccomp-ebpf
nri_plugin=/opt/nri/plugins/10-seccomp-ebpf
unit=/etc/systemd/system/seccomp-ebpf.service
pidfile=/run/seccomp-ebpf.pid
logfile=/var/log/seccomp-ebpf.log

have_systemd() { [ -d /run/systemd/system ]; }

# Starts a long-lived process (containerd, the daemon) in the background, appending to LOG, with none of this shell's
# descriptors above 2: a caller's `flock` lock, a pipe to a CI log or a test's socket would otherwise stay open for the
# process's whole life (a lock held forever, a pipe that never reaches EOF). $! is the process itself.
start_detached() {
    local log=$1 fd
    shift
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec nohup "$@" </dev/null >>"$log" 2>&1
    ) &
}

log() { echo "install.sh: $*"; }

# The containerd processes that serve CONFIG: others (a test suite's private containerds, a second runtime) are not ours
# to stop. containerd reads /etc/containerd/config.toml unless -c/--config names another file.
containerd_pids_for_config() {
    local pid want cfg prev arg
    want=$(readlink -f "$containerd_config")
    for pid in $(pgrep -x containerd); do
        cfg=/etc/containerd/config.toml prev=
        while IFS= read -r -d '' arg; do
            case "$prev" in -c|--config) cfg=$arg ;; esac
            case "$arg" in --config=*) cfg=${arg#--config=} ;; esac
            prev=$arg
        done < "/proc/$pid/cmdline" 2>/dev/null || continue
        [ "$(readlink -f "$cfg")" = "$want" ] && echo "$pid"
    done
    return 0
}

containerd_running() {
    if have_systemd; then systemctl is-active -q containerd; else [ -n "$(containerd_pids_for_config)" ]; fi
}

restart_containerd() {
    local pids
    if have_systemd; then
        systemctl restart containerd
        return
    fi
    pids=$(containerd_pids_for_config)
    if [ -n "$pids" ]; then
        log "restarting containerd (no systemd): pid $(echo $pids)"
        kill -TERM $pids 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 $pids 2>/dev/null || break
            sleep 0.2
        done
    else
        log "starting containerd (no systemd), log in /var/log/containerd.log"
    fi
    start_detached /var/log/containerd.log containerd --config "$containerd_config"
}

stop_daemon() {
    if have_systemd && [ -f "$unit" ]; then
        systemctl disable --now seccomp-ebpf.service >/dev/null 2>&1 || true
    fi
    if [ -f "$pidfile" ]; then
        local pid
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        # Wait for it to go: two daemons must never serve at once.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    fi
}

if $uninstall; then
    stop_daemon
    [ -x "$bin" ] && "$bin" detach >/dev/null 2>&1 || true
    rm -f "$unit" "$nri_plugin" "$bin"
    rm -rf "$libdir"
    have_systemd && systemctl daemon-reload || true
    if [ "$(bash "$src/scripts/containerd-nri.sh" restore "$containerd_config")" = changed ]; then
        log "restored containerd's original config"
        $start && restart_containerd
    fi
    log "uninstalled (configuration in $etc kept)"
    exit 0
fi

log "installing packages"
"$src/scripts/install-deps.sh" runtime build
command -v dotnet >/dev/null || {
    echo "install.sh: the .NET 10 SDK is required to build SeccompEbpf (dotnet not found on PATH)" >&2
    exit 1
}

log "building"
make -s -C "$src/bpf"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Self-contained composite ReadyToRun, as benchmarked (docs/performance.md); the same script publishes what
# bench/SeccompEbpf.Daemon.Benchmarks measures.
"$src/scripts/publish-daemon.sh" "$stage"

log "installing to $libdir"
mkdir -p "$libdir" "$(dirname "$bin")"
rm -rf "$libdir.new"
cp -a "$stage" "$libdir.new"
# mktemp -d made the stage 0700: world-readable (dirs 0755, files 0644, executables 0755) so any user can run
# `profile validate/explain`; the control commands stay root-only through the control socket's mode and peer check.
chmod -R u=rwX,go=rX "$libdir.new"
rm -rf "$libdir"
mv "$libdir.new" "$libdir"
# The publish carries its own .NET runtime, so the wrapper needs no DOTNET_ROOT (containerd starts pre-installed
# plugins with an empty environment).
cat > "$bin" <<WRAP
#!/bin/sh
exec "$libdir/seccomp-ebpf" "\$@"
WRAP
chmod 755 "$bin"

mkdir -p "$etc/profiles"
[ -f "$etc/config.json" ] || install -m 644 "$src/config/config.json" "$etc/config.json"
for p in "$src"/config/profiles/*.json; do
    [ -e "$p" ] || continue
    [ -f "$etc/profiles/$(basename "$p")" ] || install -m 644 "$p" "$etc/profiles/"
done
mkdir -p "$prefix/share/doc/seccomp-ebpf"
install -m 644 "$src/README.md" "$prefix/share/doc/seccomp-ebpf/README.md"

log "registering with containerd ($containerd_config)"
external_flag=""
[ "$mode" = external ] && external_flag=--external
changed=$(bash "$src/scripts/containerd-nri.sh" enable "$containerd_config" $external_flag)
# containerd's CRI gives pod sandboxes oom_score_adj -998, lower than its own. Where the runtime may not lower it
# (an unprivileged or nested environment without CAP_SYS_RESOURCE, like some CI and cloud-shell machines) every pod
# fails to start with "write /proc/self/oom_score_adj: ..."; restrict_oom_score_adj = true makes containerd keep
# scores no lower than its own. Probed in a child process, which is what runc's would do.
if ! (echo -998 > /proc/self/oom_score_adj) 2>/dev/null &&
    [ "$(bash "$src/scripts/containerd-nri.sh" restrict-oom "$containerd_config")" = changed ]; then
    log "this machine cannot lower oom_score_adj (needs CAP_SYS_RESOURCE): set restrict_oom_score_adj = true in $containerd_config, else no pod could start"
    changed=changed
fi
mkdir -p /opt/nri/plugins
if [ "$mode" = preinstalled ]; then
    stop_daemon
    rm -f "$unit"
    cat > "$nri_plugin" <<PLUG
#!/bin/sh
# Launched by containerd with fd 3 and NRI_PLUGIN_* only; everything else comes from here.
exec "$bin" run --config "$etc/config.json" >>"$logfile" 2>&1
PLUG
    chmod 755 "$nri_plugin"
else
    rm -f "$nri_plugin"
fi

if ! $start; then
    log "installed; not started (--no-start)"
    exit 0
fi

# Registration is checked in the log written from here on.
log_offset=$(stat -c %s "$logfile" 2>/dev/null || echo 0)
if [ "$changed" = changed ] || [ "$mode" = preinstalled ] || ! containerd_running; then
    restart_containerd
fi

if [ "$mode" = external ]; then
    stop_daemon
    if have_systemd; then
        sed "s|@BINDIR@|$(dirname "$bin")|" "$src/config/systemd/seccomp-ebpf.service" > "$unit"
        systemctl daemon-reload
        systemctl enable --now seccomp-ebpf.service
        log "started seccomp-ebpf.service (journalctl -u seccomp-ebpf)"
    else
        start_detached "$logfile" "$bin" run --config "$etc/config.json"
        echo $! > "$pidfile"
        log "started seccomp-ebpf in the background (no systemd): pid $(cat "$pidfile"), log $logfile"
    fi
fi

# Registration is the proof that the install worked.
for _ in $(seq 100); do
    if tail -c +"$((log_offset + 1))" "$logfile" 2>/dev/null | grep -q "NRI connected to containerd" || \
       { have_systemd && journalctl -u seccomp-ebpf --since "-2min" 2>/dev/null | grep -q "NRI connected"; }; then
        log "seccomp-ebpf is registered with containerd"
        exit 0
    fi
    sleep 0.2
done
echo "install.sh: seccomp-ebpf did not register with containerd within 20 s; see $logfile" >&2
exit 1
