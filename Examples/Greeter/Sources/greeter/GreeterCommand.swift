import ArgumentParser
import StatefunCommandLine
import Greeter
import StatefulFunctions

/// Serves the greeter (and the showcase) as a StateFun 2.x remote module.
@main
struct GreeterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greeter",
        abstract: "Serves example/greeter and example/showcase over the StateFun 2.x protocol.")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)
        try await options.serve(functions, protocol: .v2)
    }
}
