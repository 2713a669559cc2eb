// The README's "Add it to your package" command: a user's executable serving
// with ServeOptions (compiled, not run).
// readme-block-begin
import ArgumentParser
import StatefulFunctions
import StatefunCommandLine

@main
struct MyModule: AsyncParsableCommand {
    @OptionGroup var options: ServeOptions

    func run() async throws {
        let functions = StatefulFunctions()
        try functions.bind("com.example/greeter", String.self) { context, name in
            context.sendEgress(try EgressMessage("com.example/out", value: "Hello \(name)"))
        }
        try await options.serve(functions, protocol: .v3)
    }
}
// readme-block-end
