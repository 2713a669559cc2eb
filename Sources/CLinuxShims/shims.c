#define _GNU_SOURCE
#include "CLinuxShims.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

int cshim_stream_socket(int domain) {
    return socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int cshim_accept4(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void cshim_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

void cshim_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

// Signal handling: the handler only writes to an eventfd (async-signal-safe);
// a Swift thread blocked on that eventfd does the real work.
static atomic_int termination_fd = -1;  // set on one thread, read in the handler on any
static struct sigaction saved_sigint;
static struct sigaction saved_sigterm;

static void termination_handler(int sig) {
    (void)sig;
    int saved_errno = errno;
    int fd = termination_fd;
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(fd, &one, sizeof one);
        (void)ignored;
    }
    errno = saved_errno;
}

int cshim_install_termination_handlers(int fd) {
    termination_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = termination_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, &saved_sigint) != 0) return -1;
    if (sigaction(SIGTERM, &sa, &saved_sigterm) != 0) {
        sigaction(SIGINT, &saved_sigint, NULL);
        return -1;
    }
    return 0;
}

void cshim_restore_termination_handlers(void) {
    sigaction(SIGINT, &saved_sigint, NULL);
    sigaction(SIGTERM, &saved_sigterm, NULL);
    termination_fd = -1;
}

#include <sched.h>
#include <sys/ioctl.h>

int cshim_pending_input(int fd) {
    int count = 0;
    return ioctl(fd, FIONREAD, &count) == 0 ? count : -1;
}

int cshim_affinity_cpu_count(void) {
    // CPU_ALLOC sets, doubled until one holds every CPU the kernel knows (EINVAL: too small).
    for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) {
        cpu_set_t *set = CPU_ALLOC(cpus);
        if (set == NULL) return -1;
        size_t size = CPU_ALLOC_SIZE(cpus);
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            int count = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return count;
        }
        int error = errno;
        CPU_FREE(set);
        if (error != EINVAL) return -1;
    }
    return -1;
}
