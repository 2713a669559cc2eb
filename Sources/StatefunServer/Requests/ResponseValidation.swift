/// Why a handler's response had to be changed before sending.
enum ResponseProblem: Equatable {
    /// A status outside 200...999: sent as 500.
    case invalidStatus(Int)
    /// A field with an invalid name or value (CR/LF in a value: response splitting): dropped.
    case invalidHeader(String)
}

/// The checks every response passes before either protocol sends it. The
/// status is checked here; the fields are checked as each protocol encodes
/// them (``encodeHeaderFields(_:problems:)``, ``encodeHTTP2Fields(_:problems:)``),
/// and every problem found is logged by ``RequestLog/report(_:path:)``.
enum ResponseValidation {
    /// The statuses a handler may answer with.
    static let validStatuses = 200...999

    /// The status to send for `response`: its own, or 500 (reported in `problems`) when it is invalid.
    @inline(__always)
    static func status(of response: ServerResponse, problems: inout [ResponseProblem]) -> Int {
        if validStatuses.contains(response.status) { return response.status }
        problems.append(.invalidStatus(response.status))
        return 500
    }

    /// Whether a response with `status` carries a body (204 and 304 never do: RFC 9110 §6.4.1).
    @inline(__always)
    static func allowsBody(_ status: Int) -> Bool { status != 204 && status != 304 }
}
