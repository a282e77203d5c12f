/* Shared by the probe programs: the marked process is recognised by its comm, which
 * probe-target sets with prctl(PR_SET_NAME) just before the syscall under test. */
#pragma once
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Distinctive enough that no other path returns it by accident. */
#define PROBE_ERRNO 131 /* ENOTRECOVERABLE */

static __always_inline int comm_is(const char *want, int len)
{
    char comm[16] = {};
    bpf_get_current_comm(comm, sizeof(comm));
    for (int i = 0; i < len && i < 16; i++)
        if (comm[i] != want[i])
            return 0;
    return 1;
}

char LICENSE[] SEC("license") = "GPL";
