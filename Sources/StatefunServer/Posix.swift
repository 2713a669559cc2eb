import CLinuxShims
import Glibc

/// An error starting or running an ``HTTPServer``.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    /// Broad categories of failure.
    public enum Kind: Sendable, Equatable {
        /// ``HTTPServer/start()`` was called more than once.
        case alreadyStarted
        /// The configured host could not be resolved to an address.
        case addressResolution
        /// The address is already in use by another socket.
        case addressInUse
        /// Any other system call failure (socket, bind, listen, epoll, thread creation).
        case system
        /// The configuration cannot work (for example: neither TCP nor a Unix socket to listen on).
        case invalidConfiguration
    }

    /// The category of failure.
    public var kind: Kind
    /// The `errno` of the failing system call, if one failed.
    public var errno: Int32?
    /// A human-readable explanation.
    public var description: String

    init(_ kind: Kind, errno: Int32? = nil, _ description: String) {
        self.kind = kind
        self.errno = errno
        self.description = description
    }

    static func system(_ call: String, _ code: Int32) -> HTTPServerError {
        HTTPServerError(.system, errno: code, "\(call) failed: \(errnoDescription(code))")
    }
}

func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// Monotonic time in nanoseconds.
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A resolved socket address.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    /// Resolves a numeric or named host with getaddrinfo (passive, TCP).
    static func resolve(host: String, port: Int) throws(HTTPServerError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = rc == 0 ? "no addresses" : String(cString: gai_strerror(rc))
            throw HTTPServerError(.addressResolution, "cannot resolve host '\(host)': \(reason)")
        }
        defer { freeaddrinfo(list) }
        var address = SocketAddress()
        withUnsafeMutableBytes(of: &address.storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        address.length = first.pointee.ai_addrlen
        return address
    }

    var port: Int {
        get {
            withUnsafeBytes(of: storage) { raw in
                switch family {
                case AF_INET: Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
                case AF_INET6: Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
                default: 0
                }
            }
        }
        set {
            // sin_port and sin6_port are both at offset 2.
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.storeBytes(of: UInt16(truncatingIfNeeded: newValue).bigEndian, toByteOffset: 2, as: UInt16.self)
            }
        }
    }

    /// `ip:port`, or `[ip]:port` for IPv6.
    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafeBytes(of: storage) { raw -> String in
            switch family {
            case AF_INET:
                let ok = inet_ntop(AF_INET, raw.baseAddress! + 4, &buffer, socklen_t(buffer.count)) != nil
                return ok ? "\(decodeCString(buffer)):\(port)" : "?:\(port)"
            case AF_INET6:
                let ok = inet_ntop(AF_INET6, raw.baseAddress! + 8, &buffer, socklen_t(buffer.count)) != nil
                return ok ? "[\(decodeCString(buffer))]:\(port)" : "?:\(port)"
            default:
                return "unknown"
            }
        }
    }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

private func decodeCString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

@discardableResult
func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
    var v = value
    return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
}

/// Creates a non-blocking socket bound to `address`. With `reusePort`, it is
/// bound with SO_REUSEPORT so several loops can share the port; `listen` starts listening.
func makeBoundSocket(
    _ address: SocketAddress, reusePort: Bool, listenBacklog: Int32?
) throws(HTTPServerError) -> Int32 {
    let fd = cshim_stream_socket(address.family)
    if fd < 0 { throw .system("socket", errno) }
    setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
    if reusePort && !setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) {
        let e = errno
        close(fd)
        throw .system("setsockopt(SO_REUSEPORT)", e)
    }
    if address.family == AF_INET6 {
        // Bind "::" dual-stack where the system allows it.
        setIntOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0)
    }
    let rc = address.withSockAddr { bind(fd, $0, $1) }
    if rc != 0 {
        let e = errno
        close(fd)
        if e == EADDRINUSE {
            throw HTTPServerError(
                .addressInUse, errno: e, "cannot bind \(address.description): address already in use")
        }
        throw HTTPServerError(.system, errno: e, "cannot bind \(address.description): \(errnoDescription(e))")
    }
    if let backlog = listenBacklog, listen(fd, backlog) != 0 {
        let e = errno
        close(fd)
        throw HTTPServerError(.system, errno: e, "cannot listen on \(address.description): \(errnoDescription(e))")
    }
    return fd
}

/// The address a socket is bound to.
func boundAddress(_ fd: Int32) -> SocketAddress? {
    var address = SocketAddress()
    address.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutableBytes(of: &address.storage) { raw in
        getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &address.length)
    }
    return rc == 0 ? address : nil
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, so many connections fit.
func raiseFileDescriptorLimit() {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(resource, &limit)
}

/// Starts a detached pthread running `body`.
func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(HTTPServerError) {
    final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            cshim_set_thread_name(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        throw .system("pthread_create", rc)
    }
    pthread_detach(thread)
}

// MARK: - Unix domain sockets

/// A bound and listening Unix domain socket, and the identity of its file
/// (so shutdown removes the file only if it is still ours).
struct UnixListener {
    var fd: Int32
    var path: String
    var device: UInt64
    var inode: UInt64

    /// Removes the socket file if it is still the one this listener created.
    func unlinkFile() {
        var info = stat()
        guard lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else { return }
        unlink(path)
    }
}

private func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes.prefix(raw.count - 1))
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
}

/// Binds and listens on a Unix domain socket at `path` with file mode `permissions`.
/// A socket file nobody answers on (left by a crashed run) is replaced; a live
/// socket or a file of another kind is an error.
func makeUnixListener(path: String, permissions: Int, backlog: Int32) throws(HTTPServerError) -> UnixListener {
    let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    guard !path.isEmpty, path.utf8.count < capacity, !path.utf8.contains(0) else {
        throw HTTPServerError(
            .addressResolution, "Unix socket path '\(path)' must be 1 to \(capacity - 1) bytes long")
    }
    var existing = stat()
    if lstat(path, &existing) == 0 {
        guard existing.st_mode & S_IFMT == S_IFSOCK else {
            throw HTTPServerError(.addressInUse, "cannot listen on \(path): it exists and is not a socket")
        }
        let probe = cshim_stream_socket(AF_UNIX)
        if probe < 0 { throw .system("socket", errno) }
        // Non-blocking: a live listener with a full backlog answers EAGAIN, which counts as live.
        let rc = withUnixAddress(path) { connect(probe, $0, $1) }
        let e = errno
        close(probe)
        if rc == 0 || e == EAGAIN || e == EINPROGRESS {
            throw HTTPServerError(
                .addressInUse, errno: EADDRINUSE, "cannot listen on \(path): another server is listening on it")
        }
        guard e == ECONNREFUSED else {
            throw HTTPServerError(.system, errno: e, "cannot probe the existing socket \(path): \(errnoDescription(e))")
        }
        unlink(path)  // stale: nobody listens
    }
    let fd = cshim_stream_socket(AF_UNIX)
    if fd < 0 { throw .system("socket", errno) }
    if withUnixAddress(path, { bind(fd, $0, $1) }) != 0 {
        let e = errno
        close(fd)
        if e == EADDRINUSE {
            throw HTTPServerError(.addressInUse, errno: e, "cannot bind \(path): address already in use")
        }
        throw HTTPServerError(.system, errno: e, "cannot bind \(path): \(errnoDescription(e))")
    }
    // Set the mode before listen(): no client can connect in between.
    var info = stat()
    if chmod(path, mode_t(permissions & 0o7777)) != 0 || lstat(path, &info) != 0 {
        let e = errno
        close(fd)
        unlink(path)
        throw HTTPServerError(.system, errno: e, "cannot set the mode of \(path): \(errnoDescription(e))")
    }
    if listen(fd, backlog) != 0 {
        let e = errno
        close(fd)
        unlink(path)
        throw HTTPServerError(.system, errno: e, "cannot listen on \(path): \(errnoDescription(e))")
    }
    return UnixListener(fd: fd, path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
}
