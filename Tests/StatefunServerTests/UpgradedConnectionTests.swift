import Foundation
import StatefunServer
import Testing

/// A connection that upgraded from HTTP/1.1 to HTTP/2 (`Upgrade: h2c`) keeps its
/// HTTP/1.1 driver, which hands every event on to the HTTP/2 one: the
/// periodic tick and the server's shutdown reach the HTTP/2 session too.
@Suite("Connections upgraded to HTTP/2 (h2c)")
struct UpgradedConnectionTests {
    /// The upgrade request (`HTTP2-Settings`: SETTINGS_MAX_CONCURRENT_STREAMS 100), then
    /// the client's preface and an empty SETTINGS frame, as a client sends them after the 101.
    static let upgrade = Array(
        ("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: AAMAAABk\r\n\r\n").utf8)
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

    /// The frames in `bytes`: (type, stream).
    static func frames(_ bytes: [UInt8]) -> [(type: UInt8, stream: UInt32)] {
        var frames: [(type: UInt8, stream: UInt32)] = []
        var offset = 0
        while offset + 9 <= bytes.count {
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let stream = bytes[(offset + 5)..<(offset + 9)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
            frames.append((bytes[offset + 3], stream))
            offset += 9 + length
        }
        return frames
    }

    static let headers: UInt8 = 0x1
    static let goaway: UInt8 = 0x7

    /// Upgrades a connection and reads the 101.
    static func upgraded(port: Int) throws -> (RawConnection, status: Int?) {
        let connection = try RawConnection(port: port)
        try connection.send(upgrade + preface)
        return (connection, try connection.readResponse()?.status)
    }

    @Test("an upgraded connection left idle gets GOAWAY and is closed")
    func idle() async throws {
        try await withTestServer({ $0.idleTimeout = .milliseconds(300) }) { server in
            let (status, frames) = try await offloaded { () -> (Int?, [(type: UInt8, stream: UInt32)]) in
                let (connection, status) = try Self.upgraded(port: server.port)
                return (status, Self.frames(try connection.readUntilClosed()))
            }
            #expect(status == 101)
            #expect(frames.contains { $0.type == Self.headers && $0.stream == 1 }, "the upgraded request's response: \(frames)")
            #expect(frames.last?.type == Self.goaway, "\(frames)")
        }
    }

    @Test("the server's shutdown sends GOAWAY on an upgraded connection, and closes it")
    func drain() async throws {
        let server = try TestServer.start()
        let (connection, status) = try await offloaded { () -> (UncheckedSendable<RawConnection>, Int?) in
            let (connection, status) = try Self.upgraded(port: server.port)
            return (UncheckedSendable(connection), status)
        }
        #expect(status == 101)
        async let rest = offloaded { Self.frames(try connection.value.readUntilClosed()) }
        await server.stop()
        let frames = try await rest
        #expect(frames.contains { $0.type == Self.headers && $0.stream == 1 }, "the upgraded request's response: \(frames)")
        #expect(frames.contains { $0.type == Self.goaway }, "\(frames)")
    }
}
