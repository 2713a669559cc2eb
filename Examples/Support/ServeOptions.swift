public import ArgumentParser
import Logging
public import StatefulFunctions
import StatefunServer
import StatefunService
#if canImport(Glibc)
import Glibc
#endif

/// The command-line options every example server shares; each falls back to
/// an environment variable, then to its default.
public struct ServeOptions: ParsableArguments {
    @Option(help: "The address to listen on (env STATEFUN_HOST).")
    public var host: String = environment("STATEFUN_HOST") ?? "0.0.0.0"

    @Option(help: "The port to listen on (env STATEFUN_PORT).")
    public var port: Int = environment("STATEFUN_PORT").flatMap(Int.init) ?? 8000

    @Option(help: "The URL path the runtime posts to (env STATEFUN_PATH).")
    public var path: String = environment("STATEFUN_PATH") ?? "/statefun"

    @Option(help: "Event loop threads; 0 means one per core (env STATEFUN_LOOPS).")
    public var loops: Int = environment("STATEFUN_LOOPS").flatMap(Int.init) ?? 0

    public init() {}

    /// Serves `functions` with these options until SIGINT or SIGTERM. The log
    /// level comes from `LOG_LEVEL` (default `info`).
    public func serve(_ functions: StatefulFunctions, protocol version: ProtocolVersion) async throws {
        let level = environment("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = HTTPServerConfiguration(host: host, port: port)
        if loops > 0 { configuration.eventLoopCount = loops }
        try await StatefunService(functions: functions, protocol: version, path: path, configuration: configuration).run()
    }
}

private func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
