#define _GNU_SOURCE
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

// Atomics, not volatile sig_atomic_t: the handler runs on any thread, and the
// supervisor's loop reads them on another (lock-free atomics are signal-safe).
static atomic_int wake = -1;
static atomic_int terminations = 0;
static atomic_int last_termination = 0;

static void supervisor_handler(int sig) {
    int saved_errno = errno;
    if (sig == SIGTERM || sig == SIGINT) {
        terminations += 1;
        last_termination = sig;
    }
    int fd = wake;
    if (fd >= 0) {
        char one = (char)sig;
        ssize_t ignored = write(fd, &one, 1);
        (void)ignored;
    }
    errno = saved_errno;
}

int cshim_supervisor_install_signals(int wake_fd) {
    wake = wake_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = supervisor_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    int signals[] = {SIGCHLD, SIGTERM, SIGINT};
    for (int i = 0; i < 3; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
    }
    return 0;
}

int cshim_supervisor_terminations(void) { return terminations; }
int cshim_supervisor_last_termination(void) { return last_termination; }


int cshim_pipe(int fds[2], int nonblocking) { return pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)); }

// A worker (STATEFUN_WORKER_PARENT set by the supervisor) gets SIGTERM, and
// drains, when the supervisor dies. Before main, on the main thread: the
// parent-death signal belongs to the thread that asks for it, and a thread of
// Swift's pool may come and go.
__attribute__((constructor)) static void cshim_worker_parent_death_signal(void) {
    const char *parent = getenv("STATEFUN_WORKER_PARENT");
    if (!parent || !*parent) return;
    prctl(PR_SET_PDEATHSIG, (unsigned long)SIGTERM, 0, 0, 0);
    if (getppid() != (pid_t)atol(parent)) raise(SIGTERM);  // it died already
}
