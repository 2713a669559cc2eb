/// A request waiting for its stream.
struct HTTP2Request: Sendable {
    let path: String
    let authority: String
    let body: [UInt8]
    let continuation: ReplyDelivery
}

/// Resumes the task awaiting a request from the connection's thread, through
/// ``withThreadHandoff`` (so that ThreadSanitizer sees the reply handed over).
struct ReplyDelivery: Sendable {
    let deliver: @Sendable (Result<HTTPReply, any Error>) -> Void
    func resume(returning reply: HTTPReply) { deliver(.success(reply)) }
    func resume(throwing error: any Error) { deliver(.failure(error)) }
}
