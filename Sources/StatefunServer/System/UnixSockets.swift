import Glibc

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
        let probe: Int32
        do throws(SystemError) { probe = try Posix.streamSocket(AF_UNIX) } catch { throw HTTPServerError(error) }
        // Non-blocking: a live listener with a full backlog answers EAGAIN, which counts as live.
        let rc = withUnixAddress(path) { connect(probe, $0, $1) }
        let e = errno
        Posix.close(probe)
        if rc == 0 || e == EAGAIN || e == EINPROGRESS {
            throw HTTPServerError(
                .addressInUse, errno: EADDRINUSE, "cannot listen on \(path): another server is listening on it")
        }
        guard e == ECONNREFUSED else {
            throw HTTPServerError(.system, errno: e, "cannot probe the existing socket \(path): \(errnoDescription(e))")
        }
        unlink(path)  // stale: nobody listens
    }
    let fd: Int32
    do throws(SystemError) { fd = try Posix.streamSocket(AF_UNIX) } catch { throw HTTPServerError(error) }
    if withUnixAddress(path, { bind(fd, $0, $1) }) != 0 {
        let e = errno
        Posix.close(fd)
        if e == EADDRINUSE {
            throw HTTPServerError(.addressInUse, errno: e, "cannot bind \(path): address already in use")
        }
        throw HTTPServerError(.system, errno: e, "cannot bind \(path): \(errnoDescription(e))")
    }
    // Set the mode before listen(): no client can connect in between.
    var info = stat()
    if chmod(path, mode_t(permissions & 0o7777)) != 0 || lstat(path, &info) != 0 {
        let e = errno
        Posix.close(fd)
        unlink(path)
        throw HTTPServerError(.system, errno: e, "cannot set the mode of \(path): \(errnoDescription(e))")
    }
    if listen(fd, backlog) != 0 {
        let e = errno
        Posix.close(fd)
        unlink(path)
        throw HTTPServerError(.system, errno: e, "cannot listen on \(path): \(errnoDescription(e))")
    }
    return UnixListener(fd: fd, path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
}
