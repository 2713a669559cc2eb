// Cancelling a handler's task: its HTTP/1.1 client went away, or its request
// timed out (HTTP/2 streams: HTTP2Session). The server knows nothing of what
// the handler does; the task's cancellation is the whole interface.
import Logging

extension HTTP1Driver {
    /// The client shut its side of a connection whose handler runs (it is not
    /// read meanwhile: epoll reports it as EPOLLRDHUP): as Go's server does, the
    /// handler's task is cancelled. Unless requests it sent before are still
    /// unread (a pipelining client that half-closed): it waits for their answers.
    /// Either way the connection is answered and read on as before, and its
    /// end-of-input found by the reads that follow.
    func readHangup(_ connection: Connection, loop: EventLoop) {
        guard upgraded == nil, machine.state == .handling else { return }
        closeSeen = true
        if !machine.hasBufferedInput && Posix.pendingInput(connection.fd) == 0, let task = handlerTask.take() {
            task.cancel()
            logger.debug(
                "client closed the connection while its request was handled; cancelling the handler",
                metadata: ["peer": "\(connection.peerDescription)"])
        }
        loop.updateInterest(connection)  // no more EPOLLRDHUP: it stays reported until the response
    }

    /// Cancels the handler of a request older than the request timeout (once).
    func cancelHandlerIfTimedOut(_ connection: Connection, loop: EventLoop) {
        guard let timeout = context.requestTimeout, loop.now - handlingSince > timeout,
            let task = handlerTask.take()
        else { return }
        task.cancel()
        logger.notice(
            "request timed out; cancelling its handler",
            metadata: [
                "peer": "\(connection.peerDescription)",
                "timeout": "\(context.configuration.requestTimeout.map { "\($0)" } ?? "")",
            ])
        loop.updateInterest(connection)
    }
}
