import Foundation
import Glibc
import Testing

/// The server's bound on request-body memory, against the greeter example run
/// as a child process (its RSS is the server's alone): 64 HTTP/1.1 connections,
/// or 64 streams of one h2c connection, each declaring 30 MiB and sending all
/// of it but the last byte (Python/body_memory.py). Without the bound the RSS
/// reached 2 GB.
@Suite("Request-body memory bound under attack", .serialized)
struct BodyMemoryTests {
    static let bound = 64 << 20
    /// What the server may take above its idle RSS besides the bound: each
    /// connection's read buffer and 64 KiB allowance, allocator slack.
    static let overhead = 48 << 20

    struct Report: Decodable {
        var baseline_kib: Int
        var attack_peak_kib: Int
        var peak_kib: Int
        var sent_mib: Int
        var valid_ok: Int
        var valid_total: Int
        var valid_outcomes: [String: [Outcome]]
        var attacker_statuses: [String]
    }

    /// A status, or an error text.
    enum Outcome: Decodable, CustomStringConvertible {
        case status(Int)
        case other(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let status = try? container.decode(Int.self) { self = .status(status) } else {
                self = .other(try container.decode(String.self))
            }
        }
        var description: String {
            switch self {
            case .status(let status): "\(status)"
            case .other(let text): text
            }
        }
    }

    @Test("the RSS stays under the bound plus a fixed overhead; valid requests sent meanwhile complete", arguments: ["h1", "h2"])
    func attack(_ mode: String) async throws {
        let greeter = exampleExecutable("greeter")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let server = try await BackgroundProcess.start(
            greeter, [],
            environment: [
                "STATEFUN_HOST": "127.0.0.1", "STATEFUN_PORT": "0", "STATEFUN_LOOPS": "2",
                "STATEFUN_MAX_BODY_MEMORY": "\(Self.bound)", "LOG_LEVEL": "info",
                // One process, whose RSS is the server's (supervised, the pid would be the supervisor's).
                "STATEFUN_WORKERS": "0",
                // Under AddressSanitizer (make test-asan), freed memory is held in its quarantine
                // (256 MiB) and RSS would measure that: freed memory goes back at once instead.
                "ASAN_OPTIONS": (ProcessInfo.processInfo.environment["ASAN_OPTIONS"].map { $0 + ":" } ?? "")
                    + "quarantine_size_mb=0:allocator_release_to_os_interval_ms=0",
            ])
        defer { server.remove() }
        try await eventually("the start-up line") { listeningPort(in: server.output) != nil }
        let port = try #require(listeningPort(in: server.output))

        let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/body_memory.py").path
        let (status, output) = try await run(python, [script, mode, "\(port)", "\(server.pid)"])
        kill(server.pid, SIGTERM)
        _ = await server.wait()
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(output)")
        let report = try JSONDecoder().decode(Report.self, from: Data(line.utf8))
        let growth = (report.peak_kib - report.baseline_kib) << 10
        print(
            "body memory \(mode): baseline RSS \(report.baseline_kib >> 10) MiB, peak \(report.peak_kib >> 10) MiB "
                + "(during the attack \(report.attack_peak_kib >> 10) MiB), the attack sent \(report.sent_mib) MiB; "
                + "attackers got \(report.attacker_statuses); valid: \(report.valid_outcomes)")
        #expect(
            growth <= Self.bound + Self.overhead,
            "RSS grew by \(growth >> 20) MiB (bound \(Self.bound >> 20) MiB + \(Self.overhead >> 20) MiB)")
        #expect(report.valid_ok == report.valid_total, "\(report.valid_outcomes)")
    }
}
