/* Seccomp probe for crates/berth-tests/tests/security/seccomp.rs, built by seccomp/probe.rs with cc -static.
 *
 * `probe OP...` performs each raw syscall in a child of its own (so that unshare, personality
 * and new processes do not affect the next one) and prints one line per OP: `OP=0` when the
 * call succeeded, `OP=<errno>` when it failed. Each call is chosen so that a seccomp denial
 * (EPERM, or ENOSYS for clone3) differs from what the kernel answers without a filter, and so
 * that it changes nothing outside the child: add_key names a key type that does not exist
 * (ENODEV unfiltered), mount passes an unreadable type pointer (EFAULT unfiltered).
 * `probe euid` prints the effective uid (for the setuid test). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#define UFFD_USER_MODE_ONLY 1

/* A new process from a raw clone/clone3: the child leaves at once. */
static long reap(long pid) {
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, __WALL);
    return pid;
}

static long op(const char *name) {
    if (!strcmp(name, "keyctl"))
        return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4 /* user keyring */, 0);
    if (!strcmp(name, "add_key"))
        return syscall(SYS_add_key, "berthprobe", "probe", "x", 1, -2 /* process keyring */);
    if (!strcmp(name, "request_key"))
        return syscall(SYS_request_key, "berthprobe", "probe", NULL, 0);
    if (!strcmp(name, "unshare_user"))
        return syscall(SYS_unshare, CLONE_NEWUSER);
    if (!strcmp(name, "unshare_mnt"))
        return syscall(SYS_unshare, CLONE_NEWNS);
    if (!strcmp(name, "clone_newuser"))
        return reap(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    if (!strcmp(name, "clone_plain"))
        return reap(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
    if (!strcmp(name, "clone3")) {
        struct clone_args a;
        memset(&a, 0, sizeof a);
        a.exit_signal = SIGCHLD;
        return reap(syscall(SYS_clone3, &a, sizeof a));
    }
    if (!strcmp(name, "io_uring_setup")) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        return syscall(SYS_io_uring_setup, 1, &p);
    }
    if (!strcmp(name, "userfaultfd"))
        return syscall(SYS_userfaultfd, UFFD_USER_MODE_ONLY);
    if (!strcmp(name, "perf_event_open")) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.type = PERF_TYPE_SOFTWARE;
        a.size = sizeof a;
        a.config = PERF_COUNT_SW_TASK_CLOCK;
        a.exclude_kernel = 1;
        a.exclude_hv = 1;
        return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    }
    if (!strcmp(name, "socket_vsock"))
        return syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
    if (!strcmp(name, "socket_alg"))
        return syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0);
    if (!strcmp(name, "socket_inet"))
        return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    if (!strcmp(name, "personality_norandom"))
        return syscall(SYS_personality, ADDR_NO_RANDOMIZE);
    if (!strcmp(name, "personality_query"))
        return syscall(SYS_personality, 0xffffffffUL);
    if (!strcmp(name, "mount"))
        return syscall(SYS_mount, "none", "/tmp", (char *)1, 0, NULL);
    if (!strcmp(name, "mount_tmpfs"))
        return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, "");
    if (!strcmp(name, "mkdir"))
        return syscall(SYS_mkdir, "/tmp/probe-dir", 0755);
    errno = EINVAL;
    return -2;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "euid")) {
        printf("euid=%d\n", (int)geteuid());
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            printf("%s=fork:%d\n", argv[i], errno);
            continue;
        }
        if (child == 0) {
            long r = op(argv[i]);
            if (r == -2)
                printf("%s=unknown-op\n", argv[i]);
            else
                printf("%s=%d\n", argv[i], r < 0 ? errno : 0);
            fflush(stdout);
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    return 0;
}
