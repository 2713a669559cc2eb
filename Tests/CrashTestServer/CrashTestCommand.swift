import ArgumentParser
import StatefunCommandLine
import Greeter
import StatefulFunctions

/// The greeter example plus `test/poison`, a function that traps on one
/// message (a force unwrap of nil): what the crash-containment tests serve.
@main
struct CrashTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statefun-crash-test",
        abstract: "Serves the greeter and a function that traps on the name 'poison' (for tests).")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        try Showcase.register(in: functions)
        try functions.bind("test/poison", Example_GreetRequest.self) { _, request in
            let missing: Int? = request.name == "poison" ? nil : 1
            _ = missing!  // traps on the poison message
        }
        try await options.serve(functions, protocol: .v2)
    }
}
