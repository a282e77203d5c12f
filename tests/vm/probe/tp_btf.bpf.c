// tp_btf/sys_enter (the BTF-typed syscall tracepoint) + bpf_send_signal: SIGKILL for the process
// named "sebpf-tpbtf" when it calls getppid.
#include "probe_common.h"

struct pt_regs;
#define NR_getppid 110 /* x86_64 */

SEC("tp_btf/sys_enter")
int BPF_PROG(probe_tp_btf_kill, struct pt_regs *regs, long id)
{
    if (id == NR_getppid && comm_is("sebpf-tpbtf", 12))
        bpf_send_signal(9);
    return 0;
}
