/// The HTTP side of one event loop: it makes each new connection's driver
/// (HTTP/1.1, which may switch to HTTP/2), and holds what the loop's HTTP
/// connections share: the ``RequestDispatcher``, the ``RequestLog``, the
/// limits and the caches of response fields. The loop knows it only as a
/// ``ConnectionDriverFactory``. Used on its loop's thread only.
final class HTTPConnections: ConnectionDriverFactory {
    let context: ServerContext
    /// Routes requests and runs their handlers, for both protocols.
    let dispatcher: RequestDispatcher
    /// Metrics and logs of answered requests, for both protocols.
    let requestLog: RequestLog
    /// The limits of HTTP/1.1 connections.
    let http1Limits: HTTP1Limits
    @exclusivity(unchecked) var dateCache = DateCache()
    @exclusivity(unchecked) var encodedFieldsCache = FieldsCache(empty: EncodedFields(), encoder: encodeHeaderFields)
    /// Where the loop's HTTP/2 sessions send their requests, made with the first (``http2Dispatch(replyTo:)``).
    @exclusivity(unchecked) private var http2: HTTP2Dispatch?

    init(context: ServerContext) {
        self.context = context
        let dispatcher = RequestDispatcher(context: context)
        self.dispatcher = dispatcher
        self.requestLog = RequestLog(context: context, healthPath: dispatcher.healthRoute?.path)
        self.http1Limits = HTTP1Limits(context.configuration)
    }

    /// A new connection speaks HTTP/1.1 first (it may turn out to speak HTTP/2).
    func makeDriver(now: UInt64, draining: Bool) -> any ConnectionDriver {
        var machine = HTTP1StateMachine(limits: http1Limits, budget: context.bodyMemory, now: now)
        if draining { machine.beginDrain() }
        return HTTP1Driver(machine, connections: self)
    }

    /// The owner of the loop's HTTP/2 sessions: ``dispatcher`` and ``requestLog``,
    /// with `loop` as the address its handlers' responses are sent to.
    func http2Dispatch(replyTo loop: EventLoop) -> HTTP2Dispatch {
        if let http2 { return http2 }
        let made = HTTP2Dispatch(dispatcher: dispatcher, requestLog: requestLog, replyTo: loop)
        http2 = made
        return made
    }
}
