public import Glibc
import StatefunLocks

/// A program the tests run, started with `posix_spawn`.
///
/// Not Foundation's `Process`: on Linux its `run()` reads the whole 256-byte
/// name of each entry of `/proc/self/fd`, past the end of glibc's directory
/// buffer when an entry sits at its end, and now and then crashes the test
/// process (swift-corelibs-foundation#5472, in Swift 6.3.1; CI here met it).
///
/// The child gets standard input, output and error as given and no other
/// descriptor of the tests (a leaked socket would keep a connection open), an
/// empty signal mask and default signal handlers (a child spawned from a
/// thread that blocks SIGTERM would otherwise ignore it).
public final class ChildProcess: @unchecked Sendable {
    /// Where a standard stream of the child goes or comes from.
    public enum Stream {
        /// `/dev/null`.
        case null
        /// A descriptor of the tests (duplicated into the child; the caller keeps and closes its own).
        case descriptor(Int32)
    }

    public let pid: pid_t
    private let status = StatusBox()

    /// Starts `executable` with `arguments`, the tests' environment with
    /// `environment` laid over it, and the given standard streams.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (stream, target) in [(stdin, Int32(0)), (stdout, 1), (stderr, 2)] {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        try Self.closeTheRest(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var variables: [String: String] = [:]
        var entry = environ
        while let pair = entry.pointee {
            let text = String(cString: pair)
            if let equals = text.firstIndex(of: "=") {
                variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        variables.merge(environment) { $1 }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
    }

    /// Closes, in the child, every descriptor above standard error: with
    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later;
    /// looked up at run time, as Swift's Glibc module does not declare it),
    /// else one by one as `/proc/self/fd` lists them now.
    private static func closeTheRest(_ actions: inout posix_spawn_file_actions_t) throws {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            guard closeFrom(&actions, 3) == 0 else {
                throw ChildProcessError(description: "posix_spawn_file_actions_addclosefrom_np failed")
            }
            return
        }
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        let nameOffset = MemoryLayout<dirent>.offset(of: \.d_name)!
        while let entry = readdir(directory) {
            // The name is read in place, up to its NUL (not copied whole: see above).
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if let fd = Int32(name), fd > 2, fd != own { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }

    /// Waits for the child to exit and returns its status: the exit code, or
    /// the signal that ended it (as Foundation's `terminationStatus`).
    /// Blocks: call it on a thread of its own, never on Swift's task pool.
    @discardableResult
    public func waitUntilExit() -> Int32 {
        if let known = status.value { return known }
        var raw: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &raw, 0) } while result == -1 && errno == EINTR
        // -1 (ECHILD): another thread reaped it (through isRunning) and holds the status.
        return result == pid ? status.set(Self.decode(raw)) : status.value ?? -1
    }

    /// ``waitUntilExit()`` for async code: the wait happens on a thread of its
    /// own. A test that waits on Swift's task pool (two threads on a two-core
    /// machine) stops every in-process server's handler tasks meanwhile: two
    /// such waits of half a minute (a symbol graph extracted, a manifest
    /// compiled, under ThreadSanitizer) made other tests' requests time out.
    public func exitStatus() async -> Int32 {
        (try? await withThreadHandoff { deliver in
            spawnWaiter { deliver(.success(self.waitUntilExit())) }
        }) ?? -1
    }

    /// Whether the child is still running (it is reaped if it has exited).
    public var isRunning: Bool {
        if status.value != nil { return false }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            status.set(Self.decode(raw))
            return false
        }
        return result == 0
    }

    /// Sends `signal` to the child if it has not been reaped.
    public func kill(_ signal: Int32 = SIGKILL) {
        if status.value == nil { _ = Glibc.kill(pid, signal) }
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7F
        return signal == 0 ? (raw >> 8) & 0xFF : signal
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
}

/// The child's status once reaped, shared by the threads that wait and poll.
private final class StatusBox: Sendable {
    private let stored = Lock<Int32?>(nil)

    var value: Int32? { stored.withLock { $0 } }

    @discardableResult
    func set(_ status: Int32) -> Int32 {
        stored.withLock { stored in
            if stored == nil { stored = status }
            return stored ?? status
        }
    }
}

/// Runs `body` on a new detached thread (a pthread: this target does without Foundation).
private func spawnWaiter(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if rc == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()  // no thread: wait here rather than never
    }
}

