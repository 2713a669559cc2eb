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
