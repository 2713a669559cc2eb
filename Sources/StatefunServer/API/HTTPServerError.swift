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

    init(_ error: SystemError) {
        self.init(.system, errno: error.code, error.description)
    }
}
