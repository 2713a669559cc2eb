import ArgumentParser
import StatefunCommandLine
import GreeterV3
import StatefulFunctions
#if canImport(Glibc)
import Glibc
#endif

/// Serves the 3.x greeter and its audit function.
@main
struct GreeterV3Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greeter-v3",
        abstract: "Serves example/greeter and example/audit over the StateFun 3.x protocol.")

    @OptionGroup var options: ServeOptions

    @Flag(
        inversion: .prefixedNo,
        help: """
            Send the egress texts as Kafka records (topics 'greetings' and 'audits', key the name) and take names \
            as raw UTF-8 (example/plain-text) too, for Kafka ingress and egresses on a real runtime \
            (env GREETER_KAFKA=1).
            """)
    var kafka: Bool = Self.kafkaFromEnvironment

    /// `GREETER_KAFKA`: `1`/`true`/`yes`/`on`, anything else off.
    static var kafkaFromEnvironment: Bool {
        guard let value = getenv("GREETER_KAFKA") else { return false }
        return ["1", "true", "yes", "on"].contains(String(cString: value).lowercased())
    }

    func run() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions, mode: kafka ? .kafka : .strings)
        // The 3.x protocol is serve's default: every test of this example pins it.
        try await options.serve(functions)
    }
}
