import Logging

/// The one record of answered requests, for both protocols: the metrics
/// (``ServerMetrics``), the line for a failed or rejected request, the access
/// log, and the problems found in handlers' responses. One per event loop,
/// touched only on its thread.
final class RequestLog {
    let context: ServerContext
    /// The health check's path: its failures (503 while not ready) are not logged as failures.
    let healthPath: String?
    /// The metrics of the last request answered (see `ServerMetrics.RequestInstruments`).
    @exclusivity(unchecked) private var lastInstruments: ServerMetrics.RequestInstruments?

    init(context: ServerContext, healthPath: String?) {
        self.context = context
        self.healthPath = healthPath
    }

    var logger: Logger { context.logger }

    /// Records an answered request: metrics, the failure line, the access log line.
    /// `status` is the one sent (``ResponseValidation``); `rejection` is set when the server answered without a handler.
    func answered(_ record: RequestRecord, response: ServerResponse, status: Int, rejection: HTTPError?, now: UInt64) {
        let elapsed = now >= record.startedAt ? now - record.startedAt : 0
        let key = ServerMetrics.RequestKey(path: record.routePath, status: status, protocolName: record.protocolName)
        let instruments: ServerMetrics.RequestInstruments
        if let last = lastInstruments, last.key == key {
            instruments = last
        } else {
            instruments = context.metrics.instruments(for: key)
            lastInstruments = instruments
        }
        context.metrics.record(instruments, elapsed)
        if let rejection {
            var metadata: Logger.Metadata = [
                "peer": "\(record.peer)", "status": "\(rejection.status)", "cause": "\(rejection.message)",
            ]
            if !record.method.isEmpty {
                metadata["method"] = "\(record.method)"
                metadata["path"] = "\(record.path)"
                metadata["protocol"] = "\(record.protocolName)"
            }
            logger.notice("rejected request", metadata: metadata)
        } else if status >= 400 && record.routePath != healthPath {
            logger.log(
                level: status >= 500 ? .error : .warning, "request failed",
                metadata: [
                    "peer": "\(record.peer)", "protocol": "\(record.protocolName)", "method": "\(record.method)",
                    "path": "\(record.path)", "status": "\(status)", "cause": "\(response.failureCause)",
                ])
        }
        if context.configuration.accessLog {
            let micros = elapsed / 1000
            logger.info(
                "access",
                metadata: [
                    "peer": "\(record.peer)", "protocol": "\(record.protocolName)", "method": "\(record.method)",
                    "path": "\(record.path)", "status": "\(status)", "requestBytes": "\(record.requestBytes)",
                    "responseBytes": "\(record.responseBytes)",
                    "durationMs": "\(micros / 1000).\(String(micros % 1000).leftPaddedWithZeros(3))",
                ])
        }
    }

    /// Logs what was wrong with a handler's response to the request for `path` (``ResponseValidation``).
    func report(_ problems: [ResponseProblem], path: String) {
        for problem in problems {
            switch problem {
            case .invalidStatus(let status):
                logger.error("handler returned invalid status \(status); sending 500", metadata: ["path": "\(path)"])
            case .invalidHeader(let name):
                logger.error(
                    "handler returned an invalid header field; dropped it", metadata: ["path": "\(path)", "header": "\(name)"])
            }
        }
    }
}

extension String {
    func leftPaddedWithZeros(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
