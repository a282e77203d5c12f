// lsm_cgroup/socket_bind: runs only for sockets of the cgroup it is attached to; refuses bind()
// with -PROBE_ERRNO chosen through bpf_set_retval (lsm_cgroup programs return 1 = allow, 0 = deny).
#include "probe_common.h"

struct socket;
struct sockaddr;

SEC("lsm_cgroup/socket_bind")
int BPF_PROG(probe_cgroup_bind, struct socket *sock, struct sockaddr *address, int addrlen)
{
    bpf_set_retval(-PROBE_ERRNO);
    return 0;
}
