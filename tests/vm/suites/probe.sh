#!/bin/bash
# vm-timeout-seconds: 300
# In-guest smoke suite: what this kernel lets eBPF do, independent of the C# engine. Uses the objects
# and helpers probe.host.sh built on the host: each probe program is loaded and attached with
# probe-loader (libbpf), then probe-target (renamed to the comm the program looks for) makes the
# syscall and the result is checked, with an unmarked process as the control.
# Expectation: SECCOMP_EBPF_EXPECT_LSM=1 (the default) means BPF LSM must work on this kernel;
# =0 means it must not. Either way a disagreement with the kernel is a failed case.
set -u
bin=$SECCOMP_EBPF_VM_ARTIFACTS/probe
pins=/sys/fs/bpf/sebpf-probe
expect_lsm=${SECCOMP_EBPF_EXPECT_LSM:-1}
errno_expected=131
failures=0

result() { # case-name pass|fail detail
    echo "VMRESULT case=$1 result=$2${3:+ detail=${3// /_}}"
    [ "$2" = pass ] || failures=$((failures + 1))
}
mechanism() { # name yes|no detail
    echo "VMRESULT mechanism=$1 available=$2${3:+ detail=${3// /_}}"
}
# Loads and attaches OBJECT (links pinned under $pins/NAME); prints the loader's verdict.
attach() { # name object [cgroup]
    rm -rf "${pins:?}/$1"
    "$bin/probe-loader" "$bin/$2" "$pins/$1" ${3:+"$3"} 2>"/tmp/loader-$1.log"
}
detach() { rm -rf "${pins:?}/$1"; }
target() { "$bin/probe-target" "$@" 2>&1; }

[ -x "$bin/probe-loader" ] || { echo "probe: $bin/probe-loader missing (probe.host.sh did not run)"; exit 1; }
mkdir -p "$pins"

echo "VMRESULT info kernel=$(uname -r) lsm_list=$(cat /sys/kernel/security/lsm) lockdown=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/security/lockdown 2>/dev/null || echo none)"
if [ -n "${SECCOMP_EBPF_VM_KERNEL_CONFIG:-}" ] && [ -f "$SECCOMP_EBPF_VM_KERNEL_CONFIG" ]; then
    for option in CONFIG_BPF_LSM CONFIG_DEBUG_INFO_BTF CONFIG_FUNCTION_ERROR_INJECTION CONFIG_BPF_KPROBE_OVERRIDE CONFIG_KPROBES; do
        value=$(sed -n "s/^$option=//p" "$SECCOMP_EBPF_VM_KERNEL_CONFIG"); echo "VMRESULT config $option=${value:-unset}"
    done
fi

# --- bpftool's view: program types, map types, helpers the engine relies on -----------------
features=$(bpftool feature probe kernel 2>/dev/null)
feature() { grep -q "$1" <<< "$features" && echo yes || echo no; }
echo "VMRESULT feature prog_lsm=$(feature 'program_type lsm is available') prog_tracing=$(feature 'program_type tracing is available') prog_raw_tracepoint=$(feature 'program_type raw_tracepoint is available') prog_kprobe=$(feature 'program_type kprobe is available')"
echo "VMRESULT feature map_ringbuf=$(feature 'map_type ringbuf is available') map_task_storage=$(feature 'map_type task_storage is available') map_hash_of_maps=$(feature 'map_type hash_of_maps is available') map_cgrp_storage=$(feature 'map_type cgrp_storage is available')"
kprobe_helpers=$(sed -n '/program type kprobe/,/^$/p' <<< "$features")
lsm_helpers=$(sed -n '/program type lsm/,/^$/p' <<< "$features")
echo "VMRESULT feature kprobe_override_return=$(grep -q bpf_override_return <<< "$kprobe_helpers" && echo yes || echo no) lsm_send_signal=$(grep -q bpf_send_signal <<< "$lsm_helpers" && echo yes || echo no)"
if [ -n "$features" ]; then result bpftool_feature_probe pass; else result bpftool_feature_probe fail "bpftool feature probe kernel printed nothing"; fi

# --- BPF LSM and lsm_cgroup: does the errno reach the marked process, and only it? -------------
# A kernel whose active LSM list lacks bpf still loads and attaches lsm/ programs; they just never
# run. So the outcome is measured, not inferred from the attach.
if [ "$expect_lsm" = 1 ]; then lsm_expected=enforced; else lsm_expected=not_enforced; fi
lsm_active=no
[[ ,$(cat /sys/kernel/security/lsm), == *,bpf,* ]] && lsm_active=yes
outcome() { # marked-result other-result
    if [ "$2" != "ret=0 errno=0" ]; then echo "broken:control_process_got_${2// /_}"
    elif [ "$1" = "ret=-1 errno=$errno_expected" ]; then echo enforced
    elif [ "$1" = "ret=0 errno=0" ]; then echo not_enforced
    else echo "broken:marked_process_got_${1// /_}"; fi
}
lsm_case() { # case-name syscall via outcome
    echo "VMRESULT hook=$3 outcome=$4"
    [ "$4" = enforced ] && echo "VMRESULT errno_syscall=$2 errno=$errno_expected via=$3"
    if [ "$4" = "$lsm_expected" ]; then result "$1" pass; else result "$1" fail "expected_${lsm_expected}_got_$4_(bpf_in_active_lsm_list:$lsm_active)"; fi
}
lsm_enforced=0
if attach lsm lsm_errno.bpf.o > /tmp/lsm.out; then
    open_outcome=$(outcome "$(target sebpf-lsm open)" "$(target sebpf-other open)")
    socket_outcome=$(outcome "$(target sebpf-lsm socket)" "$(target sebpf-other socket)")
    detach lsm
else
    sed 's/^/probe: /' /tmp/loader-lsm.log | tail -n 5
    open_outcome="not_enforced"; socket_outcome="not_enforced"
    echo "VMRESULT lsm_attach=failed detail=$(tr ' \n' '__' < /tmp/lsm.out)"
fi
lsm_case lsm_file_open_errno openat lsm/file_open "$open_outcome"
lsm_case lsm_socket_create_errno socket lsm/socket_create "$socket_outcome"
[ "$open_outcome" = enforced ] && [ "$socket_outcome" = enforced ] && lsm_enforced=1

cg=/sys/fs/cgroup/sebpf-probe
rmdir "$cg" 2>/dev/null; mkdir -p "$cg"
if attach lsm_cgroup lsm_cgroup.bpf.o "$cg" > /tmp/lsm_cgroup.out; then
    bind_in=$(sh -c 'echo $$ > '"$cg"'/cgroup.procs && exec "$0" sebpf-cg bind' "$bin/probe-target" 2>&1)
    bind_outside=$(target sebpf-cg bind)
    detach lsm_cgroup
    bind_outcome=$(outcome "$bind_in" "$bind_outside")
else
    sed 's/^/probe: /' /tmp/loader-lsm_cgroup.log | tail -n 5
    bind_outcome="not_enforced"
    echo "VMRESULT lsm_cgroup_attach=failed detail=$(tr ' \n' '__' < /tmp/lsm_cgroup.out)"
fi
rmdir "$cg" 2>/dev/null
lsm_case lsm_cgroup_bind_errno bind lsm_cgroup/socket_bind "$bind_outcome"

if [ "$lsm_enforced" = 1 ]; then mechanism lsm yes; else mechanism lsm no "bpf_in_active_lsm_list:$lsm_active"; fi
if [ "$bind_outcome" = enforced ]; then mechanism lsm_cgroup yes; else mechanism lsm_cgroup no "bpf_in_active_lsm_list:$lsm_active"; fi
# What a capability probe may rely on: BPF LSM enforces exactly when bpf is in the active list.
if { [ "$lsm_active" = yes ] && [ "$lsm_enforced" = 1 ]; } || { [ "$lsm_active" = no ] && [ "$lsm_enforced" = 0 ]; }; then
    result lsm_enforcement_matches_active_list pass
else
    result lsm_enforcement_matches_active_list fail "bpf_in_active_lsm_list:${lsm_active},enforced:$lsm_enforced"
fi

# --- syscall tracepoints + bpf_send_signal(SIGKILL) ------------------------------------------
kill_case() { # mechanism-name object comm
    if attach "$1" "$2" > "/tmp/$1.out"; then
        marked=$(target "$3" getppid; echo "exit=$?"); other=$(target sebpf-other getppid; echo "exit=$?")
        detach "$1"
        echo "probe: $1 marked[${marked//$'\n'/ }] other[${other//$'\n'/ }]"
        if [[ $marked == *exit=137 ]] && [[ $other == *"ret=0 errno=0"*exit=0 ]]; then
            result "$1_send_signal_kill" pass; mechanism "$1" yes; mechanism send_signal yes
        else
            result "$1_send_signal_kill" fail "marked:${marked//$'\n'/,},other:${other//$'\n'/,}"; mechanism "$1" no "attached_but_ineffective"
        fi
    else
        mechanism "$1" no "$(tr '\n' ' ' < "/tmp/$1.out")"
        sed 's/^/probe: /' "/tmp/loader-$1.log" | tail -n 5
        result "$1_send_signal_kill" fail "could not load/attach $2"
    fi
}
kill_case raw_tp_sys_enter sys_enter_kill.bpf.o sebpf-kill
kill_case tp_btf_sys_enter tp_btf.bpf.o sebpf-tpbtf

# --- fmod_ret on the syscall function: informational (Debian kernels lack error injection) ------
if attach fmod_ret fmod_ret.bpf.o > /tmp/fmod_ret.out; then
    marked=$(target sebpf-fmodret getppid); other=$(target sebpf-other getppid)
    detach fmod_ret
    if [ "$marked" = "ret=-1 errno=$errno_expected" ] && [ "$other" = "ret=0 errno=0" ]; then
        result fmod_ret_getppid_errno pass; mechanism fmod_ret yes
        echo "VMRESULT errno_syscall=getppid errno=$errno_expected via=fmod_ret/__x64_sys_getppid"
    else
        result fmod_ret_getppid_errno fail "marked:$marked,other:$other"; mechanism fmod_ret no "attached_but_ineffective"
    fi
else
    mechanism fmod_ret no "refused:$(tr '\n' ' ' < /tmp/fmod_ret.out)"
    grep -v '^$' /tmp/loader-fmod_ret.log | tail -n 6 | sed 's/^/probe: fmod_ret: /'
fi

# --- fmod_ret on security_file_open: informational fallback; if it attaches it must enforce -----
if attach fmod_ret_security fmod_ret_security.bpf.o > /tmp/fmod_ret_security.out; then
    fmodsec_outcome=$(outcome "$(target sebpf-fmodsec open)" "$(target sebpf-other open)")
    detach fmod_ret_security
    echo "VMRESULT hook=fmod_ret/security_file_open outcome=$fmodsec_outcome"
    if [ "$fmodsec_outcome" = enforced ]; then
        result fmod_ret_security_file_open_errno pass; mechanism fmod_ret_security yes
        echo "VMRESULT errno_syscall=openat errno=$errno_expected via=fmod_ret/security_file_open"
    else
        result fmod_ret_security_file_open_errno fail "attached_but_$fmodsec_outcome"; mechanism fmod_ret_security no "attached_but_$fmodsec_outcome"
    fi
else
    mechanism fmod_ret_security no "refused:$(tr '\n' ' ' < /tmp/fmod_ret_security.out)"
    grep -v '^$' /tmp/loader-fmod_ret_security.log | tail -n 6 | sed 's/^/probe: fmod_ret_security: /'
fi

rmdir "$pins" 2>/dev/null
echo "probe: $failures failed case(s)"
[ "$failures" = 0 ]
