// fmod_ret on an LSM entry point (security_file_open): the verifier allows modify-return on
// security_* functions even without error injection and whether or not bpf is an active LSM, so
// this is a candidate fallback for kernels booted without bpf in lsm=. -PROBE_ERRNO for "sebpf-fmodsec".
#include "probe_common.h"

struct file;

SEC("fmod_ret/security_file_open")
int BPF_PROG(probe_fmod_ret_security, struct file *file, int ret)
{
    if (ret != 0)
        return ret;
    return comm_is("sebpf-fmodsec", 14) ? -PROBE_ERRNO : 0;
}
