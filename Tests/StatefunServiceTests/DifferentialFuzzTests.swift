import Foundation
import Testing

/// Issue 18, item 3: differential fuzzing of the example executables, the
/// official Python SDKs as the oracle.
///
/// Python/fuzz_diff.py starts the example (and starts it again after a death
/// or a hang, counting it), replays the committed regression inputs of
/// Fuzz/DiffRegressions/<protocol>, then sends `FUZZ_DIFF_CI_CASES` (5,000)
/// mutated requests generated from a fixed seed, handing each also to Python
/// twins of the same functions under the official SDK's request-reply handler,
/// in-process. It exits 1 on any disagreement and prints each one: the input
/// in hex and both answers. See the script's docstring for what must agree.
///
/// Every disagreement found so far is a committed regression case; each of
/// them, and every generated case, must agree.
@Suite("Differential fuzzing against the official SDKs", .serialized)
struct DifferentialFuzzTests {
    @Test("2.x: greeter answers every mutated request as the 2.2.2 SDK's twins do", .bug(id: 18))
    func greeterAgainstTheSDK222() async throws {
        try await differentialFuzz(protocol: "v2", executable: "greeter", python: python)
    }

    @Test("3.x: greeter-v3 answers every mutated request as the 3.3.0 SDK's twins do", .bug(id: 18))
    func greeterV3AgainstTheSDK330() async throws {
        try await differentialFuzz(protocol: "v3", executable: "greeter-v3", python: pythonV3)
    }
}

/// The fixed seed and case count of the CI run (`make fuzz-diff` runs more, from fresh seeds).
private let ciSeed = 18
private let ciCases = Int(ProcessInfo.processInfo.environment["FUZZ_DIFF_CI_CASES"] ?? "") ?? 5000

private func differentialFuzz(protocol version: String, executable: String, python: String) async throws {
    let server = exampleExecutable(executable)
    try #require(FileManager.default.isExecutableFile(atPath: server), "build the examples first: swift build")
    let script = repositoryRoot.appendingPathComponent("Tests/StatefunServiceTests/Python/fuzz_diff.py").path
    let regressions = repositoryRoot.appendingPathComponent("Fuzz/DiffRegressions/\(version)").path
    let stored = try FileManager.default.contentsOfDirectory(atPath: regressions).filter { $0.hasSuffix(".bin") }.count
    let out = NSTemporaryDirectory() + "fuzz-diff-\(version)-" + UUID().uuidString
    let (status, output) = try await run(python, [
        script, "--protocol", version, "--server", server, "--cases", "\(ciCases)", "--seed", "\(ciSeed)",
        "--regressions", regressions, "--out", out,
    ])
    // The run went through: every regression and every generated case was compared.
    let summary = output.split(separator: "\n").last { $0.hasPrefix("fuzz-diff \(version): ") }
    let expectedCount = "fuzz-diff \(version): \(stored + ciCases) cases (\(stored) regressions, \(ciCases) generated"
    #expect(summary?.hasPrefix(expectedCount) == true, "\(output.suffix(4000))")
    // No disagreement: the report lists each (input in hex, both answers); they are also in `out`.
    #expect(status == 0, "disagreements (also written to \(out)):\n\(output.suffix(60_000))")
    if status == 0 { try? FileManager.default.removeItem(atPath: out) }
}
