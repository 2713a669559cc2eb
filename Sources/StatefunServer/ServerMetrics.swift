import CoreMetrics
import Synchronization

/// The server's swift-metrics instruments.
///
/// - `http_requests_total{path, status, protocol}`: requests answered; `path`
///   is the route's path, or `unmatched` for requests no route took.
/// - `http_request_duration_seconds{path}`: from the complete request to the response handed to the socket.
/// - `http_connections_total`: connections accepted; `http_connections_open`: open now.
/// - `http_handler_tasks_in_flight`: route handlers running now.
final class ServerMetrics: Sendable {
    private struct RequestKey: Hashable {
        var path: String
        var status: Int
        var protocolName: String
    }

    private let factory: any MetricsFactory
    private let counters = Mutex<[RequestKey: Counter]>([:])
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])
    let connectionsAccepted: Counter
    let connectionsOpen: Meter
    let handlersInFlight: Meter

    init(factory: any MetricsFactory) {
        self.factory = factory
        connectionsAccepted = Counter(label: "http_connections_total", dimensions: [], factory: factory)
        connectionsOpen = Meter(label: "http_connections_open", dimensions: [], factory: factory)
        handlersInFlight = Meter(label: "http_handler_tasks_in_flight", dimensions: [], factory: factory)
    }

    /// Records one answered request. `path` must be a route path or `unmatched`
    /// (never the raw request path: that would let clients create series at will).
    func requestAnswered(path: String, status: Int, protocolName: String, nanoseconds: UInt64?) {
        let key = RequestKey(path: path, status: status, protocolName: protocolName)
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "http_requests_total",
                dimensions: [("path", path), ("status", String(status)), ("protocol", protocolName)],
                factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
        guard let nanoseconds else { return }
        let timer = timers.withLock { timers in
            if let timer = timers[path] { return timer }
            let timer = CoreMetrics.Timer(
                label: "http_request_duration_seconds", dimensions: [("path", path)], factory: factory)
            timers[path] = timer
            return timer
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }
}
