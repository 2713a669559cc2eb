import ArgumentParser
import ExampleSupport
import GreeterV3
import StatefulFunctions

/// Serves the 3.x greeter and its audit function.
@main
struct GreeterV3Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greeter-v3",
        abstract: "Serves example/greeter and example/audit over the StateFun 3.x protocol.")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        try await options.serve(functions, protocol: .v3)
    }
}
