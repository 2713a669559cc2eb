// The README's TestKit example: a test that runs with the others.
// readme-block-begin
import GreeterV3         // the module whose functions are under test
import StatefunTestKit   // re-exports StatefulFunctions
import Testing

@Test func greeterCountsAndAudits() async throws {
    let functions = StatefulFunctions()
    try GreeterV3.register(in: functions)
    let runtime = TestRuntime(functions)                       // 3.x; TestRuntime(functions, protocol: .v2) for 2.x
    let ann = Address(namespace: "example", type: "greeter", id: "ann")
    for _ in 1...10 { try await runtime.send("ann", to: ann) }
    #expect(try runtime.state(of: ann, "seen", as: Int32.self) == 10)
    #expect(try runtime.egress("example/audit-out", as: String.self) == ["ann:1"])
    try await runtime.advance(by: .seconds(100))              // delivers what falls due
}
// readme-block-end
