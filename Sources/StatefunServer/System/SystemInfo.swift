import CLinuxShims
import Glibc

/// What the server asks of the system about itself: its memory, its
/// processors, its threads, its signals.
enum SystemInfo {
    /// Physical memory in bytes, or nil if the system does not tell.
    static var physicalMemory: Int? {
        let bytes = sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
        return bytes > 0 ? bytes : nil
    }

    /// The number of online processors (at least 1).
    static var onlineProcessors: Int {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? count : 1
    }

    /// The calling thread's id (`pthread_self()`), never 0.
    @inline(__always)
    static var currentThread: UInt { UInt(pthread_self()) }

    /// Whether `thread` (a ``currentThread`` of some thread) is the calling one.
    @inline(__always)
    static func isCurrentThread(_ thread: UInt) -> Bool {
        thread != 0 && pthread_equal(pthread_t(thread), pthread_self()) != 0
    }

    /// The environment variable `name`, removed from the environment (the
    /// process's children do not see it).
    static func takeEnvironmentVariable(_ name: String) -> String? {
        defer { unsetenv(name) }
        return getenv(name).map { String(cString: $0) }
    }

    /// Writes to a peer that went away fail with `EPIPE` rather than kill the process.
    static func ignoreBrokenPipes() {
        cshim_ignore_sigpipe()
    }
}

/// Keeps glibc's allocator from handing memory back to the kernel after every
/// large request: by default a buffer above 128 KiB is mapped and unmapped each
/// time, and the top of the heap is trimmed as soon as 128 KiB are free, so a
/// server that reads, decodes and answers 64 KiB bodies spends most of its time
/// in page faults. Buffers up to 4 MiB now come from the heap, which keeps up to
/// 16 MiB of free memory before giving any back. Once per process.
private let allocatorTuned: Void = {
    cshim_tune_malloc(4 << 20, 16 << 20)
}()

func tuneAllocator() {
    _ = allocatorTuned
}
