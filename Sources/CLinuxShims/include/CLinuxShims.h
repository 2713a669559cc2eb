// Small C helpers for StatefunServer: only what the Swift importer cannot
// reach directly (accept4 and other _GNU_SOURCE calls, SIG_IGN, async-signal-safe
// handlers), and the headers Swift's Glibc module leaves out (epoll, eventfd).
// All server logic lives in Swift.
#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <malloc.h>

#include "crash_report.h"
#include "supervisor.h"

#ifdef __cplusplus
extern "C" {
#endif

/// socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
int cshim_stream_socket(int domain);
/// accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC).
int cshim_accept4(int fd, struct sockaddr *addr, socklen_t *len);
/// The bytes received on a socket and not read yet (ioctl FIONREAD), or -1.
int cshim_pending_input(int fd);

/// The number of CPUs the calling thread may run on (sched_getaffinity), or -1.
int cshim_affinity_cpu_count(void);

/// Names the calling thread (at most 15 characters are kept).
void cshim_set_thread_name(const char *name);

/// Sets SIGPIPE to SIG_IGN (writes to closed sockets then fail with EPIPE).
void cshim_ignore_sigpipe(void);

/// Installs SIGINT and SIGTERM handlers that write 1 to `fd` (an eventfd)
/// and nothing else; the previous dispositions are saved. Returns 0 or -1.
int cshim_install_termination_handlers(int fd);
/// Restores the dispositions saved by cshim_install_termination_handlers.
void cshim_restore_termination_handlers(void);

/// glibc's mallopt thresholds (malloc.h is not in Swift's Glibc module).
static inline void cshim_tune_malloc(int mmap_threshold, int trim_threshold) {
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
}

#ifdef __cplusplus
}
#endif

#endif
