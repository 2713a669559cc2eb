// The fatal-signal handler of crash_report.h. Everything it calls is
// async-signal-safe (clock_gettime, getpid, open, write, close, sigaction,
// raise); the rest is arithmetic on static buffers.
#define _GNU_SOURCE
#include "crash_report.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

__thread cshim_inflight_slot cshim_inflight;

static const int fatal_signals[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
#define FATAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous_actions[FATAL_COUNT];
static atomic_int installed;
static atomic_int entered;
static atomic_int report_fd = -1;  // set on one thread, read in a handler on any

const char *cshim_signal_name(int sig) {
    switch (sig) {
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    case SIGPIPE: return "SIGPIPE";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGALRM: return "SIGALRM";
    case SIGSYS: return "SIGSYS";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    default: return NULL;
    }
}

const char *cshim_signal_description(int sig) {
    switch (sig) {
    case SIGILL: return "illegal instruction: a Swift trap";
    case SIGTRAP: return "trace trap: a Swift trap";
    case SIGSEGV: return "segmentation fault";
    case SIGBUS: return "bus error";
    case SIGFPE: return "arithmetic exception";
    case SIGABRT: return "aborted";
    case SIGKILL: return "killed";
    case SIGTERM: return "terminated";
    case SIGINT: return "interrupted";
    default: return "signal";
    }
}

static char *copy(const char *text) { return text ? strdup(text) : NULL; }

cshim_crash_label *cshim_crash_label_create(
    const char *summary, const char *dump_prefix, const char *head_lines, const char *replay_before,
    const char *replay_after) {
    cshim_crash_label *label = calloc(1, sizeof *label);
    if (!label) return NULL;
    label->summary = copy(summary);
    label->dump_prefix = copy(dump_prefix);
    label->head_lines = copy(head_lines);
    label->replay_before = copy(replay_before);
    label->replay_after = copy(replay_after);
    if (!label->summary || (dump_prefix && !label->dump_prefix) || !label->head_lines || !label->replay_before
        || !label->replay_after) {
        cshim_crash_label_free(label);
        return NULL;
    }
    return label;
}

void cshim_crash_label_free(cshim_crash_label *label) {
    if (!label) return;
    free((void *)label->summary);
    free((void *)label->dump_prefix);
    free((void *)label->head_lines);
    free((void *)label->replay_before);
    free((void *)label->replay_after);
    free(label);
}

// MARK: - Async-signal-safe text

typedef struct {
    char *data;
    size_t length;
    size_t capacity;
} text;

static void put(text *t, const char *s) {
    if (!s) return;
    while (*s && t->length + 1 < t->capacity) t->data[t->length++] = *s++;
    t->data[t->length] = 0;
}

static void put_unsigned(text *t, unsigned long long value, int width) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value && n < 24);
    while (n < width && n < 24) digits[n++] = '0';
    char one[2] = {0, 0};
    while (n > 0) {
        one[0] = digits[--n];
        put(t, one);
    }
}

static void write_all(int fd, const void *data, size_t length) {
    const char *p = data;
    while (length > 0) {
        ssize_t n = write(fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        length -= (size_t)n;
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    if (*m <= 2) *y += 1;
}

/// `20250102T030405.678Z` into `file` and `2025-01-02T03:04:05.678Z` into `iso`: the dump's stamps.
static void stamps(text *file, text *iso) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long days = now.tv_sec / 86400, rest = now.tv_sec % 86400;
    long long year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    unsigned hour = (unsigned)(rest / 3600), minute = (unsigned)(rest / 60 % 60), second = (unsigned)(rest % 60);
    unsigned millis = (unsigned)(now.tv_nsec / 1000000);
    put_unsigned(file, (unsigned long long)year, 4); put_unsigned(file, month, 2); put_unsigned(file, day, 2);
    put(file, "T");
    put_unsigned(file, hour, 2); put_unsigned(file, minute, 2); put_unsigned(file, second, 2);
    put(file, "."); put_unsigned(file, millis, 3); put(file, "Z");
    put_unsigned(iso, (unsigned long long)year, 4); put(iso, "-"); put_unsigned(iso, month, 2); put(iso, "-");
    put_unsigned(iso, day, 2); put(iso, "T");
    put_unsigned(iso, hour, 2); put(iso, ":"); put_unsigned(iso, minute, 2); put(iso, ":");
    put_unsigned(iso, second, 2); put(iso, "."); put_unsigned(iso, millis, 3); put(iso, "Z");
}

// MARK: - The handler

static char name_buffer[256], iso_buffer[64], path_buffer[4096 + 256], info_buffer[16384], line_buffer[8192];

/// Writes `<stamp>-crash-<pid>.body` then `.txt` (the `.txt` appearing means
/// both are complete, as for the failed-request dump); returns whether it did.
static int dump(int sig, const cshim_inflight_slot *slot, text *body_path) {
    const cshim_crash_label *label = slot->label;
    text name = {name_buffer, 0, sizeof name_buffer};
    text iso = {iso_buffer, 0, sizeof iso_buffer};
    stamps(&name, &iso);
    put(&name, "-crash-");
    put_unsigned(&name, (unsigned long long)getpid(), 1);

    text path = {path_buffer, 0, sizeof path_buffer};
    put(&path, label->dump_prefix); put(&path, name.data); put(&path, ".body");
    int fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return 0;
    write_all(fd, slot->body, slot->length);
    close(fd);
    put(body_path, path.data);

    text info = {info_buffer, 0, sizeof info_buffer};
    put(&info, "time: "); put(&info, iso.data); put(&info, "\n");
    put(&info, "status: crash\n");
    put(&info, "cause: the process was killed by "); put(&info, cshim_signal_name(sig)); put(&info, " (");
    put(&info, cshim_signal_description(sig)); put(&info, ") while handling this request\n");
    put(&info, label->head_lines);
    put(&info, "body: "); put(&info, name.data); put(&info, ".body (");
    put_unsigned(&info, slot->length, 1); put(&info, " bytes)\n");
    put(&info, label->replay_before); put(&info, name.data); put(&info, ".body"); put(&info, label->replay_after);

    path.length = 0;
    put(&path, label->dump_prefix); put(&path, name.data); put(&path, ".txt");
    fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return 0;
    write_all(fd, info.data, info.length);
    close(fd);
    return 1;
}

static void report(int sig) {
    cshim_inflight_slot slot = cshim_inflight;
    static char body_path_buffer[4096 + 256];
    text body_path = {body_path_buffer, 0, sizeof body_path_buffer};
    body_path_buffer[0] = 0;
    int dumped = slot.label && slot.label->dump_prefix && dump(sig, &slot, &body_path);

    const char *name = cshim_signal_name(sig);
    text line = {line_buffer, 0, sizeof line_buffer};
    put(&line, "statefun: fatal signal "); put(&line, name); put(&line, " (");
    put(&line, cshim_signal_description(sig)); put(&line, ") in process ");
    put_unsigned(&line, (unsigned long long)getpid(), 1);
    if (slot.label) {
        put(&line, " while handling "); put(&line, slot.label->summary); put(&line, " (");
        put_unsigned(&line, slot.length, 1); put(&line, " bytes)");
        if (dumped) {
            put(&line, "; the request is in "); put(&line, body_path.data);
        } else if (slot.label->dump_prefix) {
            put(&line, "; the request could not be dumped");
        }
    } else {
        put(&line, " outside a request handler");
    }
    put(&line, "\n");
    write_all(2, line.data, line.length);

    int fd = report_fd;
    if (fd >= 0) {
        line.length = 0;
        put(&line, "crash\t"); put(&line, name);
        put(&line, "\t"); if (slot.label) put(&line, slot.label->summary);
        put(&line, "\t"); if (slot.label) put_unsigned(&line, slot.length, 1);
        put(&line, "\t"); put(&line, body_path.data);
        put(&line, "\n");
        // The body's start (where a StateFun batch has its target address), within a pipe's buffer.
        size_t prefix = slot.label ? (slot.length < 16384 ? slot.length : 16384) : 0;
        put(&line, "body\t"); put_unsigned(&line, prefix, 1); put(&line, "\n");
        write_all(fd, line.data, line.length);
        if (prefix) write_all(fd, slot.body, prefix);
    }
}

static void crash_handler(int sig, siginfo_t *info, void *context) {
    (void)info;
    (void)context;
    int saved_errno = errno;
    // Only the first fatal signal reports; another thread's waits for the end here.
    if (atomic_exchange(&entered, 1) == 0) report(sig);
    for (size_t i = 0; i < FATAL_COUNT; i++) {
        if (fatal_signals[i] == sig) sigaction(sig, &previous_actions[i], NULL);
    }
    errno = saved_errno;
    // Pending until the handler returns (the signal is blocked in it), then
    // the previous action (by default: terminate, dump core) takes it.
    raise(sig);
}

int cshim_crash_install(int fd) {
    report_fd = fd;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = crash_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    for (size_t i = 0; i < FATAL_COUNT; i++) {
        if (sigaction(fatal_signals[i], &action, &previous_actions[i]) != 0) return -1;
    }
    return cshim_crash_prepare_thread();
}

int cshim_crash_prepare_thread(void) {
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return 0;  // has one
    size_t size = 64 * 1024;
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return -1;
    stack_t stack;
    memset(&stack, 0, sizeof stack);
    stack.ss_sp = memory;
    stack.ss_size = size;
    if (sigaltstack(&stack, NULL) != 0) {
        munmap(memory, size);
        return -1;
    }
    return 0;
}
