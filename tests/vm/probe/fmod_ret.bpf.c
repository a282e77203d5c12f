// fmod_ret on the syscall function itself: needs the function on the kernel's error-injection list
// (CONFIG_FUNCTION_ERROR_INJECTION); returns -PROBE_ERRNO from getppid for "sebpf-fmodret".
#include "probe_common.h"

struct pt_regs;

SEC("fmod_ret/__x64_sys_getppid")
int BPF_PROG(probe_fmod_ret, struct pt_regs *regs, int ret)
{
    return comm_is("sebpf-fmodret", 14) ? -PROBE_ERRNO : ret;
}
