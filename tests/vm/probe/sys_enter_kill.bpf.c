// raw_tp/sys_enter + bpf_send_signal: SIGKILL for the process named "sebpf-kill" when it calls getppid.
#include "probe_common.h"

#define NR_getppid 110 /* x86_64 */

SEC("raw_tp/sys_enter")
int probe_sys_enter_kill(struct bpf_raw_tracepoint_args *ctx)
{
    if (ctx->args[1] == NR_getppid && comm_is("sebpf-kill", 11))
        bpf_send_signal(9);
    return 0;
}
