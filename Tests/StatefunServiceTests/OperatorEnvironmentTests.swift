import Foundation
import Testing

/// An operator's variable that is set but malformed stops the example at
/// start-up with an error naming it: never its default in silence (a typo in
/// `STATEFUN_PORT` used to serve on 8000).
@Suite("Malformed operator variables are start-up errors")
struct OperatorEnvironmentTests {
    @Test(arguments: [
        ("STATEFUN_PORT", "abc"), ("STATEFUN_LOOPS", "two"), ("STATEFUN_MAX_BODY_SIZE", "32MiB"),
        ("STATEFUN_MAX_BODY_MEMORY", "1e9"), ("STATEFUN_SHUTDOWN_GRACE", "30s"), ("STATEFUN_IDLE_TIMEOUT", "nan"),
        ("STATEFUN_HTTP2", "maybe"), ("STATEFUN_WORKERS", "-"), ("STATEFUN_REQUEST_TIMEOUT", "1m"),
    ])
    func aMalformedValueIsRefusedByName(_ variable: (name: String, value: String)) async throws {
        let greeter = exampleExecutable("greeter-v3")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        // A free port and no supervisor: were the value ignored, the server would start and the run would hang.
        var environment = ["STATEFUN_HOST": "127.0.0.1", "STATEFUN_PORT": "0", "STATEFUN_WORKERS": "0"]
        environment[variable.name] = variable.value
        let (status, output) = try await run("/usr/bin/timeout", ["10", greeter], environment: environment)
        #expect(status != 0 && status != 124, "exit \(status): \(output)")
        #expect(output.contains("\(variable.name)=\(variable.value) is not a valid value"), "\(output)")
    }

    @Test("a duration too long to be milliseconds in an Int64 is a start-up error naming its flag, not a trap",
          arguments: [("--idle-timeout", "1e300"), ("--request-timeout", "inf"), ("--shutdown-grace", "1e18")])
    func anOutOfRangeDurationIsRefusedByName(_ flag: (name: String, value: String)) async throws {
        let greeter = exampleExecutable("greeter-v3")
        try #require(FileManager.default.isExecutableFile(atPath: greeter), "build the examples first: swift build")
        let environment = ["STATEFUN_HOST": "127.0.0.1", "STATEFUN_PORT": "0", "STATEFUN_WORKERS": "0"]
        let (status, output) = try await run("/usr/bin/timeout", ["10", greeter, flag.name, flag.value], environment: environment)
        #expect(status != 0 && status != 124 && status < 128, "exit \(status): \(output)")   // 128+: a signal (a trap)
        #expect(output.contains("\(flag.name) must be a number of seconds"), "\(output)")
    }
}
