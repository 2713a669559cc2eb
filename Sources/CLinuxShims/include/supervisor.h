// What the supervisor (the parent holding the listeners) and its workers need
// from C: the parent's signal handlers and the worker's parent-death signal.
#ifndef CLINUXSHIMS_SUPERVISOR_H
#define CLINUXSHIMS_SUPERVISOR_H

#ifdef __cplusplus
extern "C" {
#endif

/// Installs handlers for SIGCHLD, SIGTERM and SIGINT that count the
/// termination signals and write one byte to `wake_fd` (a non-blocking pipe)
/// and nothing else. Returns 0 or -1.
int cshim_supervisor_install_signals(int wake_fd);
/// The termination signals (SIGTERM, SIGINT) received so far.
int cshim_supervisor_terminations(void);
/// The last termination signal received (SIGTERM or SIGINT), or 0.
int cshim_supervisor_last_termination(void);

/// pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)).
int cshim_pipe(int fds[2], int nonblocking);

// (A worker's parent-death signal is set before main: see supervisor.c.)

#ifdef __cplusplus
}
#endif

#endif
