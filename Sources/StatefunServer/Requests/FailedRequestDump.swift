import Logging
import Synchronization

/// Writes requests that handlers failed to a directory (see ``FailedRequestDumpConfiguration``).
/// Called from handler tasks, never from an event loop: it does blocking file I/O.
final class FailedRequestDumper: Sendable {
    let configuration: FailedRequestDumpConfiguration
    private let written = Atomic<Int>(0)
    private let bytesWritten = Atomic<Int>(0)
    private let reportedFull = Atomic<Bool>(false)
    private let logger: Logger

    init(_ configuration: FailedRequestDumpConfiguration, logger: Logger) throws(HTTPServerError) {
        self.configuration = configuration
        self.logger = logger
        try makeDirectories(configuration.directory)
    }

    func shouldDump(_ status: Int) -> Bool { configuration.statuses.contains(status) }

    /// Writes `<name>.body` then `<name>.txt`; the `.txt` appearing means both are complete.
    func dump(_ request: ServerRequest, _ response: ServerResponse, unixSocketPath: String?) {
        let sequence = written.add(1, ordering: .relaxed).newValue
        let bytes = bytesWritten.add(request.body.count, ordering: .relaxed).newValue
        if sequence > configuration.maxRequests || bytes > configuration.maxTotalBytes {
            if !reportedFull.exchange(true, ordering: .relaxed) {
                logger.warning(
                    "failed-request dump is full; later failed requests are not written",
                    metadata: [
                        "directory": "\(configuration.directory)", "maxRequests": "\(configuration.maxRequests)",
                        "maxTotalBytes": "\(configuration.maxTotalBytes)",
                    ])
            }
            return
        }
        let (stamp, iso) = wallClockStamps()
        let name = "\(stamp)-\(String(sequence).leftPadded(to: 6))-\(response.status)"
        let base = configuration.directory.hasSuffix("/") ? configuration.directory : configuration.directory + "/"
        let bodyFile = name + ".body"
        let target = request.query.map { request.path + "?" + $0 } ?? request.path

        var lines = [
            "time: \(iso)",
            "status: \(response.status)",
            "cause: \(response.failureCause)",
            "method: \(request.method)",
            "path: \(target)",
            "protocol: \(request.version)",
            "peer: \(request.peer)",
            "body: \(bodyFile) (\(request.body.count) bytes)",
        ]
        var replay = ["curl", "-sS", "-X", request.method]
        for (field, value) in request.headers {
            lines.append("header: \(field): \(value)")
            if !Self.skippedOnReplay.contains(field.lowercased()) {
                replay += ["-H", "\(field): \(value)"]
            }
        }
        if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
            replay += ["--data-binary", "@" + bodyFile]
        }
        let host = request.headers["host"] ?? "localhost"
        if let unixSocketPath {
            replay += ["--unix-socket", unixSocketPath, "http://localhost" + target]
        } else {
            replay.append("http://\(host)\(target)")
        }
        if request.version == "HTTP/2" { replay.insert("--http2-prior-knowledge", at: 2) }
        lines.append("replay (from this directory): " + replay.map(shellQuoted).joined(separator: " "))

        do throws(HTTPServerError) {
            try writeFile(base + bodyFile, request.body)
            try writeFile(base + name + ".txt", Array((lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            logger.error("cannot write the failed-request dump", metadata: ["error": "\(error)"])
        }
    }

    private static let skippedOnReplay: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "expect", "upgrade",
        "http2-settings", "te", "proxy-connection",
    ]
}

private func shellQuoted(_ word: String) -> String {
    let plain = word.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "/")
            || c == UInt8(ascii: "@") || c == UInt8(ascii: ":")
    }
    if plain && !word.isEmpty { return word }
    return "'" + word.replacingSingleQuotes() + "'"
}

extension String {
    fileprivate func replacingSingleQuotes() -> String {
        var result = ""
        for character in self {
            if character == "'" { result += "'\\''" } else { result.append(character) }
        }
        return result
    }

    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
