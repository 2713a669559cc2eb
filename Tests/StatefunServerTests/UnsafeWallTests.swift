// The server's unsafe code stays behind one wall: System/.
import Foundation
import Testing

@Suite("The server's unsafe code is in System/ only")
struct ServerUnsafeWallTests {
    /// Unsafe code: a pointer type or a pointer lent by the standard library,
    /// `Unmanaged`, an `unowned(unsafe)` reference, a C module imported.
    static var unsafeCode: Regex<Substring> {
        #/\b(?:Unsafe\w*|Unmanaged|OpaquePointer|unsafeBitCast|unsafeDowncast|unsafelyUnwrapped|unsafeUninitializedCapacity|withUnsafe\w*|baseAddress)\b|\bunowned\(unsafe\)|^\s*(?:@preconcurrency |public |package |internal )?import (?:C[A-Z]\w*|Glibc|Darwin)\b/#
            // Simple word boundaries: by Unicode's rules `bytes.withUnsafeBytes` is one word.
            .wordBoundaryKind(.simple)
    }

    @Test func onlySystemHoldsUnsafeCode() throws {
        let folder = "Sources/StatefunServer"
        let root = repositoryRoot.appendingPathComponent(folder)
        let files = try FileManager.default.subpathsOfDirectory(atPath: root.path).sorted()
        var checked = 0
        var offenders: [String] = []
        for file in files where file.hasSuffix(".swift") && !file.hasPrefix("System/") {
            checked += 1
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().filter { _, line in
                !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") && line.contains(Self.unsafeCode)
            }
            offenders += lines.map { number, line in "\(folder)/\(file):\(number + 1): \(line)" }
        }
        #expect(checked > 40, "only \(checked) files checked")
        #expect(offenders.isEmpty, "unsafe code outside System/:\n\(offenders.joined(separator: "\n"))")
    }

    /// The pattern finds what it names, and not its safe neighbours.
    @Test(arguments: [
        ("unowned(unsafe) let replyTo: EventLoop", true), ("let p: UnsafeRawPointer", true), ("import Glibc", true),
        ("bytes.withUnsafeBytes { $0.count }", true), ("unowned let replyTo: EventLoop", false),
        ("let span: RawSpan", false),
    ])
    func thePatternFindsUnsafeCode(_ line: String, _ unsafe: Bool) {
        #expect(line.contains(Self.unsafeCode) == unsafe, "\(line)")
    }
}
