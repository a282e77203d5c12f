// Minimal libbpf loader for the probe suite: loads one object, attaches every program in it
// (lsm_cgroup programs to the cgroup given) and pins the links under PIN_DIR, so they stay attached
// after exit; `rm -r PIN_DIR` detaches them. bpftool cannot attach lsm_cgroup programs, hence this.
// Usage: probe-loader OBJECT PIN_DIR [CGROUP_DIR]
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OBJECT PIN_DIR [CGROUP_DIR]\n", argv[0]);
        return 2;
    }
    libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj) {
        printf("probe-loader: open %s failed: errno=%d\n", argv[1], errno);
        return 3;
    }
    int err = bpf_object__load(obj);
    if (err) {
        printf("probe-loader: load %s failed: errno=%d (%s)\n", argv[1], -err, strerror(-err));
        return 3;
    }
    if (mkdir(argv[2], 0700) && errno != EEXIST) {
        printf("probe-loader: mkdir %s failed: errno=%d\n", argv[2], errno);
        return 4;
    }
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, obj) {
        struct bpf_link *link;
        if (bpf_program__expected_attach_type(prog) == BPF_LSM_CGROUP) {
            if (argc < 4) {
                printf("probe-loader: %s needs a cgroup\n", bpf_program__name(prog));
                return 2;
            }
            int cg = open(argv[3], O_RDONLY | O_DIRECTORY);
            if (cg < 0) {
                printf("probe-loader: open cgroup %s failed: errno=%d\n", argv[3], errno);
                return 4;
            }
            link = bpf_program__attach_cgroup(prog, cg);
            close(cg);
        } else {
            link = bpf_program__attach(prog);
        }
        if (!link) {
            printf("probe-loader: attach %s failed: errno=%d (%s)\n", bpf_program__name(prog), errno, strerror(errno));
            return 5;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[2], bpf_program__name(prog));
        err = bpf_link__pin(link, path);
        if (err) {
            printf("probe-loader: pin %s failed: errno=%d\n", path, -err);
            return 6;
        }
        printf("probe-loader: attached %s\n", bpf_program__name(prog));
    }
    return 0;
}
