import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Greeter
import Logging
import StatefulFunctions
import StatefunServer
import StatefunService

/// Serves the greeter (and the showcase) as a StateFun 2.x remote module.
@main
struct GreeterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greeter",
        abstract: "Serves the example/greeter and example/showcase functions over the StateFun 2.x protocol.")

    @Option(help: "The address to listen on (env GREETER_HOST).")
    var host: String = env("GREETER_HOST") ?? "0.0.0.0"

    @Option(help: "The port to listen on (env GREETER_PORT).")
    var port: Int = env("GREETER_PORT").flatMap(Int.init) ?? 8000

    @Option(help: "The URL path the runtime posts to (env GREETER_PATH).")
    var path: String = env("GREETER_PATH") ?? "/statefun"

    @Option(help: "Event loop threads; 0 means one per core (env GREETER_LOOPS).")
    var loops: Int = env("GREETER_LOOPS").flatMap(Int.init) ?? 0

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = env("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)

        var configuration = HTTPServerConfiguration(host: host, port: port)
        if loops > 0 { configuration.eventLoopCount = loops }
        try await StatefunService(functions: functions, path: path, configuration: configuration).run()
    }
}

private func env(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
