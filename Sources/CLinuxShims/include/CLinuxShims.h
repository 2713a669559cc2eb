// Small C helpers for StatefunServer: only what the Swift importer cannot
// reach directly (packed epoll_event, enum-typed flag constants, SIG_IGN,
// async-signal-safe handlers). All server logic lives in Swift.
#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <malloc.h>

#include "crash_report.h"
#include "supervisor.h"

#ifdef __cplusplus
extern "C" {
#endif

/// An unpacked copy of `struct epoll_event` (which is packed on x86_64 and
/// therefore awkward to use from Swift).
typedef struct {
    uint32_t events;
    uint64_t data;
} cshim_epoll_event;

/// epoll_create1(EPOLL_CLOEXEC).
int cshim_epoll_create(void);
/// epoll_ctl with the event mask and 64-bit user data passed by value.
int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// epoll_wait into an unpacked array (at most 256 events per call).
int cshim_epoll_wait(int epfd, cshim_epoll_event *events, int maxevents, int timeout_ms);

uint32_t cshim_epollin(void);
uint32_t cshim_epollout(void);
uint32_t cshim_epollerr(void);
uint32_t cshim_epollhup(void);
/// EPOLLRDHUP: the peer shut down its sending side (watched while a handler runs).
uint32_t cshim_epollrdhup(void);
/// EPOLLEXCLUSIVE: only one of the epoll instances watching a shared listening socket wakes.
uint32_t cshim_epollexclusive(void);
int cshim_epoll_ctl_add(void);
int cshim_epoll_ctl_mod(void);
int cshim_epoll_ctl_del(void);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) when nonblocking != 0, else eventfd(0, EFD_CLOEXEC).
int cshim_eventfd(int nonblocking);

/// socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
int cshim_stream_socket(int domain);
/// accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC).
int cshim_accept4(int fd, struct sockaddr *addr, socklen_t *len);
/// send(fd, buf, len, MSG_NOSIGNAL).
ssize_t cshim_send(int fd, const void *buf, size_t len);
/// Writes two buffers with one sendmsg(MSG_NOSIGNAL); second may be NULL/0.
ssize_t cshim_send2(int fd, const void *buf1, size_t len1, const void *buf2, size_t len2);

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
