import Foundation
import GreeterV3
import Logging
import StatefulFunctions
import StatefunServer
import StatefunService
import Testing

/// Writes the hostile 3.x request bodies (built with the official SDK's protocol classes) to a directory.
private let hostileBodiesScript = #"""
import os, sys
from statefun.request_reply_pb2 import ToFunction
from statefun.types_pb2 import StringWrapper, IntWrapper
out = sys.argv[1]

def request(name="alice", states=(("seen", "io.statefun.types/int", None),), invocations=1):
    f = ToFunction(); b = f.invocation
    b.target.namespace, b.target.type, b.target.id = "example", "greeter", name
    for state_name, typename, value in states:
        s = b.state.add(); s.state_name = state_name; s.state_value.typename = typename
        if value is not None:
            s.state_value.has_value = True; s.state_value.value = value
    for _ in range(invocations):
        a = b.invocations.add().argument
        a.typename = "io.statefun.types/string"; a.has_value = True; a.value = StringWrapper(value=name).SerializeToString()
    return f

def write(name, data):
    open(os.path.join(out, name), "wb").write(data)

valid = request().SerializeToString()
write("valid", valid)
write("truncated", valid[:len(valid) // 2])
write("corrupt", b"\x0f" + valid[1:])        # field 1 with wire type 7, which does not exist
write("utf8-state-name", request(states=(("seXn", "io.statefun.types/int", None),)).SerializeToString().replace(b"seXn", b"se\xffn"))
write("utf8-typename", valid.replace(b"io.statefun.types/string", b"io.statefun.types/str\xffng"))
later = request(invocations=3).SerializeToString()       # the last of three type names only
at = later.rindex(b"io.statefun.types/string")
write("utf8-typename-later", later[:at] + b"io.statefun.types/str\xffng" + later[at + 24:])
write("utf8-state-typename", request(states=(("seen", "io.statefun.types/iXt", IntWrapper(value=1).SerializeToString()),))
      .SerializeToString().replace(b"types/iXt", b"types/i\xfft"))
write("utf8-target", request(name="alXce").SerializeToString().replace(b"alXce", b"al\xc3\x28e", 1))
write("type-mismatch", request(states=(("seen", "io.statefun.types/string", StringWrapper(value="x").SerializeToString()),)).SerializeToString())
empty = request(invocations=0)
for _ in range(1_000_000):
    empty.invocation.invocations.add()
write("million-empty-invocations", empty.SerializeToString())
write("huge-invocations", request(invocations=200_000).SerializeToString())
many = request(states=[("seen", "io.statefun.types/int", IntWrapper(value=41).SerializeToString())]
               + [("undeclared-%d" % i, "io.statefun.types/int", None) for i in range(50_000)])
write("many-states", many.SerializeToString())
"""#

/// A hostile body and the answer it must get.
private struct HostileCase {
    var file: String
    var status: Int
    var cause: String
}

private let hostileCases: [HostileCase] = [
    .init(file: "truncated", status: 400, cause: "the body is not a serialized ToFunction (StateFun 3.x protocol)"),
    .init(file: "corrupt", status: 400, cause: "the body is not a serialized ToFunction (StateFun 3.x protocol)"),
    .init(file: "utf8-state-name", status: 400, cause: "a state name is not valid UTF-8"),
    .init(file: "utf8-typename", status: 400, cause: "an argument's type name is not valid UTF-8"),
    .init(file: "utf8-typename-later", status: 400, cause: "an argument's type name is not valid UTF-8"),
    .init(file: "utf8-state-typename", status: 400, cause: "the type name of a state is not valid UTF-8"),
    .init(file: "utf8-target", status: 400, cause: "the target address is not valid UTF-8"),
    .init(file: "type-mismatch", status: 400,
          cause: "state 'seen' of example/greeter/alice holds type 'io.statefun.types/string' but is declared as 'io.statefun.types/int'"),
    // An absent argument is the empty message (protobuf's reading): the typed function refuses it at once.
    .init(file: "million-empty-invocations", status: 500,
          cause: "failed on invocation 1 of 1000000 (message type ''): unexpected message type ''"),
    .init(file: "huge-invocations", status: 413, cause: "exceeds the limit of 4194304 bytes"),
]

@Suite("Hostile StateFun requests", .serialized)
struct HostileProtocolTests {
    @Test("corrupt, inconsistent and oversized requests get a clear 4xx (500 where the function refuses the message), are logged, and the service keeps answering correctly")
    func hostileRequests() async throws {
        let directory = NSTemporaryDirectory() + "statefun-hostile-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (built, buildOutput) = try await run(pythonV3, ["-c", hostileBodiesScript, directory])
        try #require(built == 0, "\(buildOutput)")

        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let store = LineStore()
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopCount: 2)
        configuration.maxBodySize = 4 * 1024 * 1024
        let service = StatefunService(
            functions: functions, protocol: .v3, configuration: configuration,
            logger: Logger(label: "test.hostile") { _ in RecordingHandler(store: store) })
        try service.server.start()
        let url = "http://127.0.0.1:\(service.server.localPort)/statefun"
        func post(_ file: String) async throws -> (status: Int, body: String, contentType: String) {
            let (_, output) = try await run("/usr/bin/curl", [
                "-sS", "--data-binary", "@\(directory)/\(file)", "-H", "Content-Type: application/octet-stream",
                "-w", "\n%{http_code} %{content_type}", url,
            ])
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            let trailer = lines.last?.split(separator: " ", maxSplits: 1) ?? []
            return (Int(trailer.first ?? "") ?? 0, lines.dropLast().joined(separator: "\n"),
                    trailer.count > 1 ? String(trailer[1]) : "")
        }

        for hostile in hostileCases {
            let before = store.lines.count
            let answer = try await post(hostile.file)
            #expect(answer.status == hostile.status, "\(hostile.file): \(answer)")
            #expect(answer.body.contains(hostile.cause), "\(hostile.file): \(answer.body)")
            #expect(answer.contentType == "text/plain; charset=utf-8", "\(hostile.file)")
            let logged = store.lines.dropFirst(before)
            #expect(
                logged.contains { $0.contains("status=\(hostile.status)") && $0.contains(hostile.cause) },
                "\(hostile.file) not logged: \(Array(logged))")
            // Still serving, correctly, after each.
            let valid = try await post("valid")
            #expect(valid.status == 200 && valid.contentType == "application/octet-stream", "after \(hostile.file): \(valid)")
            #expect(valid.body.contains("alice:1"), "after \(hostile.file)")
        }
        // A huge but valid repeated field (50,000 undeclared states) is served, not refused.
        let many = try await post("many-states")
        #expect(many.status == 200, "\(many.status) \(many.body.prefix(200))")
        #expect(many.body.contains("alice:42"), "\(many.body.prefix(300))")
        service.server.shutdown()
        await service.server.waitUntilStopped()
    }
}
