// The event loop knows sockets, not HTTP: Loop/ and Connection/ name no
// protocol type; each connection's ConnectionDriver is the only way in.
import Foundation
import Testing

@Suite("The event loop and the connection know no HTTP")
struct LoopLayeringTests {
    /// What belongs to the protocols and the request logic: their types and
    /// state, and the request side's dispatcher, log and routes.
    static var protocolCode: Regex<Substring> {
        #/\b(?:HTTP1\w*|HTTP2\w*|HTTPConnections|Request(?:Dispatcher|Log|Record)|Route(?:Table)?|ServerRequest|ResponseValidation|ParsedHead|nghttp2\w*|NGHTTP2\w*)\b/#
            .wordBoundaryKind(.simple)
    }

    @Test func loopAndConnectionNameNoProtocol() throws {
        var checked = 0
        var offenders: [String] = []
        for folder in ["Sources/StatefunServer/Loop", "Sources/StatefunServer/Connection"] {
            let root = repositoryRoot.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() where file.hasSuffix(".swift") {
                checked += 1
                let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    // Comments may give examples (`HTTP/1.1 switching to HTTP/2`); code may not.
                    let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                    if code.contains(Self.protocolCode) { offenders.append("\(folder)/\(file):\(number + 1): \(line)") }
                }
            }
        }
        #expect(checked >= 14, "only \(checked) files checked")
        #expect(offenders.isEmpty, "protocol code in the loop:\n\(offenders.joined(separator: "\n"))")
    }

    /// The pattern finds what it names, and not its neutral neighbours.
    @Test(arguments: [
        ("var http1: HTTP1StateMachine", true), ("let session: HTTP2Session?", true),
        ("dispatcher.start(route, request)", false), ("let dispatcher: RequestDispatcher", true),
        ("var driver: any ConnectionDriver", false), ("case .readHangup:", false),
    ])
    func thePatternFindsProtocolCode(_ line: String, _ found: Bool) {
        #expect(line.contains(Self.protocolCode) == found, "\(line)")
    }
}
