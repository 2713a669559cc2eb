/// What the logs and metrics need to know of a request until it is answered.
struct RequestRecord {
    var method: String
    var path: String
    /// The matched route's path, or `unmatched`: the metrics label.
    var routePath: String
    var protocolName: String
    var peer: String
    /// When the request head was complete (monotonic ns).
    var startedAt: UInt64
    var requestBytes = 0
    var responseBytes = 0
}
