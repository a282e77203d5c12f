// The process the probe programs look for: renames itself (prctl PR_SET_NAME; the programs match on
// comm) and then makes one syscall, printing its result as "ret=R errno=E".
// Usage: probe-target COMM {open|socket|bind|getppid}
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s COMM {open|socket|bind|getppid}\n", argv[0]);
        return 2;
    }
    // Socket for bind is made before the rename, so only bind() itself is under test.
    int sock = strcmp(argv[2], "bind") == 0 ? socket(AF_INET, SOCK_DGRAM, 0) : -1;
    if (prctl(PR_SET_NAME, argv[1], 0, 0, 0) != 0) {
        perror("prctl");
        return 2;
    }
    long ret;
    if (strcmp(argv[2], "open") == 0) {
        ret = open("/etc/hostname", O_RDONLY);
    } else if (strcmp(argv[2], "socket") == 0) {
        ret = socket(AF_INET, SOCK_DGRAM, 0);
    } else if (strcmp(argv[2], "bind") == 0) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ret = sock < 0 ? -1 : bind(sock, (struct sockaddr *)&addr, sizeof(addr));
    } else if (strcmp(argv[2], "getppid") == 0) {
        ret = syscall(SYS_getppid);
    } else {
        fprintf(stderr, "unknown action %s\n", argv[2]);
        return 2;
    }
    int saved = errno;
    printf("ret=%ld errno=%d\n", ret < 0 ? -1L : 0L, ret < 0 ? saved : 0);
    return 0;
}
