/// What an ``HTTP2Session`` asks its driver (``HTTP2Driver``) to do after an
/// input. The session's frames are not carried here: the driver pulls them
/// (``HTTP2Session/produce(limit:)``) as the socket takes them.
enum HTTP2Action {
    /// Nothing to write.
    case none
    /// Frames may be queued: write (pull them as the output drains).
    case write
    /// Requests whose handlers run on the loop are complete: answer them a few
    /// at a time (``HTTP2Session/answerReadyRequests(limit:)``), writing
    /// between, so the client works on the first while the rest run.
    case answerReady
    /// nghttp2 gave up on the session: write what it queued (a GOAWAY) if the
    /// socket takes it, then close.
    case fail
}
