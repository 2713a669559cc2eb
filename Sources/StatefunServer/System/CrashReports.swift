import CLinuxShims
import Glibc

/// The labels a crash report names a route's request with, one per route,
/// made when the server starts (see `crash_report.h`): what the fatal-signal
/// handler writes about the request a thread was handling, to stderr, to the
/// failed-request directory (with its replay command) and to the supervisor.
final class CrashLabels: @unchecked Sendable {  // immutable once made; freed with the table that holds it
    private var labels: [String: UnsafeMutablePointer<cshim_crash_label>] = [:]

    /// - Parameters:
    ///   - routes: the routes to label.
    ///   - dumpDirectory: where a crashed request is written, or nil.
    ///   - replayURL: `http://127.0.0.1:8000` (TCP), or nil with `unixSocketPath`.
    init(routes: [Route], dumpDirectory: String?, replayURL: String?, unixSocketPath: String?) {
        let prefix = dumpDirectory.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        for route in routes {
            let method = route.methods.contains("POST") ? "POST" : route.methods.sorted().first ?? "POST"
            let key = Self.key(route)
            guard labels[key] == nil else { continue }
            var target: String
            if let replayURL {
                target = " " + shellWord(replayURL + route.path)
            } else {
                target = " --unix-socket " + shellWord(unixSocketPath ?? "") + " " + shellWord("http://localhost" + route.path)
            }
            let label = cshim_crash_label_create(
                "\(method) \(route.path)", prefix, "method: \(method)\npath: \(route.path)\nheaders: not recorded\n",
                "replay (from this directory): curl -sS -X \(method) --data-binary @", target + "\n")
            if let label { labels[key] = label }
        }
    }

    deinit {
        for label in labels.values { cshim_crash_label_free(label) }
    }

    /// The address of `route`'s label (which lives as long as this object), 0 if it has none.
    func label(for route: Route) -> UInt {
        labels[Self.key(route)].map { UInt(bitPattern: $0) } ?? 0
    }

    private static func key(_ route: Route) -> String { route.path + " " + route.methods.sorted().joined(separator: ",") }
}

extension Route {
    /// This route with handlers that mark the calling thread as handling the
    /// request while they run (three stores before, one after): a fatal signal
    /// meanwhile reports and dumps that request. Only the routes of a server
    /// that reports crashes are wrapped; the others pay nothing.
    ///
    /// A handler task (`handlerTasks`) is marked until its first suspension,
    /// as the executors (an event loop, ``WorkerPool``) clear the mark after
    /// each job: a trap after a suspension is reported without its request.
    func markingRequestsInFlight(_ labels: CrashLabels, handlerTasks: Bool) -> Route {
        let label = labels.label(for: self)
        guard label != 0 else { return self }
        var route = self
        if let synchronous = synchronousHandler {
            route.synchronousHandler = { request in
                withExtendedLifetime(labels) {
                    request.body.withUnsafeBufferPointer { buffer in
                        cshim_inflight_begin(buffer.baseAddress, buffer.count, UnsafeRawPointer(bitPattern: label))
                        defer { cshim_inflight_end() }
                        return synchronous(request)
                    }
                }
            }
        }
        if handlerTasks {
            let handler = self.handler
            route.handler = { request in
                // The body's storage stays where it is while `request` lives.
                request.body.withUnsafeBufferPointer { buffer in
                    cshim_inflight_begin(buffer.baseAddress, buffer.count, UnsafeRawPointer(bitPattern: label))
                }
                let response = await handler(request)
                cshim_inflight_end()
                withExtendedLifetime(labels) {}
                return response
            }
        }
        return route
    }
}

/// The process's fatal-signal handlers (installed once).
enum CrashReporting {
    /// Installs them; `reportFD` is the supervisor's report pipe, or -1.
    static func install(reportFD: Int32) {
        _ = cshim_crash_install(reportFD)
    }

    /// The calling thread no longer handles a request (a job of a handler task
    /// ended, perhaps by suspending): a crash now reports none.
    @inline(__always)
    static func requestEnded() {
        cshim_inflight_end()
    }
}

/// A signal's name (`SIGILL`) and what it means, for logs.
func signalDescription(_ signal: Int32) -> String {
    let name = cshim_signal_name(signal).map { String(cString: $0) } ?? "signal \(signal)"
    return "\(name) (\(String(cString: cshim_signal_description(signal))))"
}

/// `word` quoted for a POSIX shell when it needs it.
private func shellWord(_ word: String) -> String {
    let plain = !word.isEmpty && word.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || "-_./@:[]".utf8.contains(c)
    }
    return plain ? word : "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}
