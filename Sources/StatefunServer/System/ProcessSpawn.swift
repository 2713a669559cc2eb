import Glibc

/// Starting this program again as a worker of a ``Supervisor``.
enum ProcessSpawn {
    /// Starts this executable again with the same arguments, `descriptors`
    /// inherited as they are, and `environment` laid over this process's.
    static func spawnSelf(inheriting descriptors: [Int32], environment: [String: String]) -> Result<pid_t, HTTPServerError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        for signal in [SIGTERM, SIGINT, SIGCHLD, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        // Inherited: no close-on-exec until the spawn (this process starts nothing else meanwhile).
        for fd in descriptors { Posix.setCloseOnExec(fd, false) }
        defer { for fd in descriptors { Posix.setCloseOnExec(fd, true) } }

        var entries: [String] = []
        var entry = environ
        while let pair = entry.pointee {
            let text = String(cString: pair)
            let name = text.prefix { $0 != "=" }
            if environment[String(name)] == nil { entries.append(text) }
            entry += 1
        }
        entries += environment.map { "\($0.key)=\($0.value)" }
        let argv = CommandLine.arguments.map { strdup($0) } + [nil]
        let envp = entries.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let executable = executablePath
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        return rc == 0 ? .success(pid) : .failure(.system("posix_spawn(\(executable))", rc))
    }

    /// This executable: where `/proc/self/exe` leads (so the workers' process
    /// name is the program's, not `exe`), or `/proc/self/exe` itself if the
    /// file was replaced or removed since this process started.
    private static let executablePath: String = {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "/proc/self/exe" }
        let path = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.hasSuffix(" (deleted)") ? "/proc/self/exe" : path
    }()
}
