import CoreMetrics
import StatefunLocks

/// The server's swift-metrics instruments.
///
/// - `http_requests_total{path, status, protocol}`: requests answered; `path`
///   is the route's path, or `unmatched` for requests no route took.
/// - `http_request_duration_seconds{path}`: from the complete request to the response handed to the socket.
/// - `http_connections_total`: connections accepted; `http_connections_open`: open now.
/// - `http_handler_tasks_in_flight`: route handlers running now.
final class ServerMetrics: Sendable {
    struct RequestKey: Hashable {
        var path: String
        var status: Int
        var protocolName: String
    }

    /// The instruments of one kind of request: an event loop keeps the last
    /// ones it used, as requests mostly repeat, and skips the shared tables' locks.
    struct RequestInstruments {
        let key: RequestKey
        let counter: Counter
        let timer: CoreMetrics.Timer
    }

    private let factory: any MetricsFactory
    private let counters = Lock<[RequestKey: Counter]>([:])
    private let timers = Lock<[String: CoreMetrics.Timer]>([:])
    let connectionsAccepted: Counter
    let connectionsOpen: Meter
    let handlersInFlight: Meter

    init(factory: any MetricsFactory) {
        self.factory = factory
        connectionsAccepted = Counter(label: "http_connections_total", dimensions: [], factory: factory)
        connectionsOpen = Meter(label: "http_connections_open", dimensions: [], factory: factory)
        handlersInFlight = Meter(label: "http_handler_tasks_in_flight", dimensions: [], factory: factory)
    }

    /// Records one answered request with instruments looked up before.
    func record(_ instruments: RequestInstruments, _ nanoseconds: UInt64?) {
        instruments.counter.increment()
        if let nanoseconds { instruments.timer.recordNanoseconds(Int64(clamping: nanoseconds)) }
    }

    /// The instruments of requests of `key`, created on first use. The key's
    /// path must be a route path or `unmatched` (never the raw request path:
    /// that would let clients create series at will).
    func instruments(for key: RequestKey) -> RequestInstruments {
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "http_requests_total",
                dimensions: [("path", key.path), ("status", String(key.status)), ("protocol", key.protocolName)],
                factory: factory)
            counters[key] = counter
            return counter
        }
        let timer = timers.withLock { timers in
            if let timer = timers[key.path] { return timer }
            let timer = CoreMetrics.Timer(
                label: "http_request_duration_seconds", dimensions: [("path", key.path)], factory: factory)
            timers[key.path] = timer
            return timer
        }
        return RequestInstruments(key: key, counter: counter, timer: timer)
    }
}
