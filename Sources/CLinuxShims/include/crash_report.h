// The crash report of a worker: which request a thread was handling when a
// fatal signal (a Swift trap: SIGILL, SIGTRAP; SIGSEGV, SIGBUS, SIGFPE,
// SIGABRT) ended the process, written with async-signal-safe calls only.
#ifndef CLINUXSHIMS_CRASH_REPORT_H
#define CLINUXSHIMS_CRASH_REPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a route's crash report says, prepared when the server starts (all
/// strings NUL-terminated and owned by the label).
typedef struct cshim_crash_label {
    /// `POST /statefun`: for the stderr line and the supervisor's report.
    const char *summary;
    /// `/dump/dir/` (ending in '/') where the request goes, or NULL: not dumped.
    const char *dump_prefix;
    /// The `.txt` lines between `cause:` and `body:` (`method: POST\npath: /statefun\n`).
    const char *head_lines;
    /// The replay line up to the body file's name, and after it (with the final newline).
    const char *replay_before;
    const char *replay_after;
} cshim_crash_label;

/// The request a thread is handling: set before a route's handler runs,
/// cleared after. `label` NULL means none.
typedef struct {
    const uint8_t *body;
    size_t length;
    const cshim_crash_label *label;
} cshim_inflight_slot;

extern __thread cshim_inflight_slot cshim_inflight;

/// Marks the calling thread as handling `body` for the route of `label` (three stores).
static inline void cshim_inflight_begin(const void *body, size_t length, const void *label) {
    cshim_inflight.body = (const uint8_t *)body;
    cshim_inflight.length = length;
    cshim_inflight.label = (const cshim_crash_label *)label;
}

/// The calling thread handles no request any more (one store).
static inline void cshim_inflight_end(void) { cshim_inflight.label = 0; }

/// A label holding copies of the strings (dump_prefix may be NULL); NULL if out of memory.
cshim_crash_label *cshim_crash_label_create(
    const char *summary, const char *dump_prefix, const char *head_lines, const char *replay_before,
    const char *replay_after);
void cshim_crash_label_free(cshim_crash_label *label);

/// Installs the fatal-signal handlers (once per process; later calls only
/// update `report_fd`). On a fatal signal the handler dumps the calling
/// thread's in-flight request where its label says, writes one line to
/// stderr and, if `report_fd` >= 0, one tab-separated line to it
/// (`crash SIGNAME summary length dump-body-path`) followed by `body N` and
/// the body's first N bytes (at most 16 KiB), then restores the previous
/// action and re-raises the signal. Returns 0 or -1 (errno set).
int cshim_crash_install(int report_fd);

/// Gives the calling thread an alternate signal stack (so a stack overflow
/// can be reported too). Returns 0 or -1.
int cshim_crash_prepare_thread(void);

/// `SIGILL`, `SIGSEGV`... for a signal number; NULL if unknown.
const char *cshim_signal_name(int sig);
/// `illegal instruction`... (strsignal's text, lower-cased first letter not guaranteed).
const char *cshim_signal_description(int sig);

#ifdef __cplusplus
}
#endif

#endif
