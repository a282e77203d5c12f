// lsm/* hooks reached by openat() and socket(): return -PROBE_ERRNO for the process named "sebpf-lsm".
#include "probe_common.h"

struct file;

SEC("lsm/file_open")
int BPF_PROG(probe_file_open, struct file *file, int ret)
{
    if (ret != 0)
        return ret;
    return comm_is("sebpf-lsm", 10) ? -PROBE_ERRNO : 0;
}

SEC("lsm/socket_create")
int BPF_PROG(probe_socket_create, int family, int type, int protocol, int kern, int ret)
{
    if (ret != 0)
        return ret;
    return (!kern && comm_is("sebpf-lsm", 10)) ? -PROBE_ERRNO : 0;
}
