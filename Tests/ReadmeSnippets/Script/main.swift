// README blocks with top-level code, in the README's order (the tour of
// "Defining a stateful function" and "Serving with our server"): compiled, not run.
// Tests/ReadmeTests/ReadmeSnippetTests.swift checks that each block here is the README's.
import ReadmeMessages

// readme-block-begin
import StatefulFunctions

let functions = StatefulFunctions()

try functions.bind("example/hello") { context, message in
    let user = try message.unpack(User.self)
    print("Hello " + user.name)
}
// readme-block-end

// readme-block-begin
func callerFunction(_ context: Context, _ message: AnyMessage) throws {
    try context.reply(message)
}
try functions.register("example/caller", callerFunction)
// readme-block-end

// readme-block-begin
import StatefunService   // re-exports StatefulFunctions and StatefunServer (HTTPServerConfiguration…)

try await StatefunService(functions: functions, protocol: .v3, path: "/statefun",
                          configuration: HTTPServerConfiguration(host: "0.0.0.0", port: 8000)).run()
// readme-block-end
