import ArgumentParser
import StatefunCommandLine
import StatefulFunctions
import Verification

/// Serves the SDK verification functions.
@main
struct VerificationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verification",
        abstract: "Serves the StateFun SDK verification functions over the 3.x protocol.")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let functions = StatefulFunctions()
        try Verification.register(in: functions)
        try await options.serve(functions, protocol: .v3)
    }
}
