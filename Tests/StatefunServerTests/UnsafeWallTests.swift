// Unsafe code stays behind walls: the server's System/, statefun-local's
// System/, and StatefunSystem, the wall both share (its syscall wrapper, errno
// helper and nghttp2 session are the only ones).
import Foundation
import Testing

@Suite("Unsafe code is behind the walls: the server's and statefun-local's System/, and StatefunSystem")
struct ServerUnsafeWallTests {
    /// Unsafe code: a pointer type or a pointer lent by the standard library,
    /// `Unmanaged`, an `unowned(unsafe)` reference, a C module imported.
    static var unsafeCode: Regex<Substring> {
        #/\b(?:Unsafe\w*|Unmanaged|OpaquePointer|unsafeBitCast|unsafeDowncast|unsafelyUnwrapped|unsafeUninitializedCapacity|withUnsafe\w*|baseAddress)\b|\bunowned\(unsafe\)|^\s*(?:@preconcurrency |public |package |internal )?import (?:C[A-Z]\w*|Glibc|Darwin)\b/#
            // Simple word boundaries: by Unicode's rules `bytes.withUnsafeBytes` is one word.
            .wordBoundaryKind(.simple)
    }

    /// libnghttp2 reached: its module imported, or one of its functions or types named.
    static var nghttp2Code: Regex<Substring> {
        #/\bnghttp2_\w+|^\s*(?:@preconcurrency |public |package |internal )?import CNghttp2\b/#.wordBoundaryKind(.simple)
    }

    /// `errno` turned into text: what only the one errno helper does.
    static var errnoText: Regex<Substring> { #/\bstrerror\b/#.wordBoundaryKind(.simple) }

    /// The lines of the Swift files under `folder` (but not under `wall`) that match `pattern`.
    static func offenders(
        of pattern: Regex<Substring>, in folder: String, outside wall: String?
    ) throws -> (checked: Int, lines: [String]) {
        let root = repositoryRoot.appendingPathComponent(folder)
        let files = try FileManager.default.subpathsOfDirectory(atPath: root.path).sorted()
        var checked = 0
        var offenders: [String] = []
        for file in files where file.hasSuffix(".swift") && !(wall.map { file.hasPrefix($0) } ?? false) {
            checked += 1
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().filter { _, line in
                !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") && line.contains(pattern)
            }
            offenders += lines.map { number, line in "\(folder)/\(file):\(number + 1): \(line)" }
        }
        return (checked, offenders)
    }

    /// Outside its System/ folder, neither the server nor statefun-local holds unsafe code.
    @Test(arguments: [("Sources/StatefunServer", 40), ("Sources/StatefunLocal", 15)])
    func onlySystemHoldsUnsafeCode(_ folder: String, _ expectedFiles: Int) throws {
        let (checked, offenders) = try Self.offenders(of: Self.unsafeCode, in: folder, outside: "System/")
        #expect(checked > expectedFiles, "only \(checked) files checked")
        #expect(offenders.isEmpty, "unsafe code outside System/:\n\(offenders.joined(separator: "\n"))")
    }

    /// One nghttp2 wall and one errno helper: the server and statefun-local (System/
    /// included) reach libnghttp2 and turn errno into text only through StatefunSystem.
    @Test(arguments: ["Sources/StatefunServer", "Sources/StatefunLocal"])
    func onlyStatefunSystemReachesNghttp2OrTurnsErrnoIntoText(_ folder: String) throws {
        let (_, nghttp2) = try Self.offenders(of: Self.nghttp2Code, in: folder, outside: nil)
        #expect(nghttp2.isEmpty, "nghttp2 reached outside StatefunSystem:\n\(nghttp2.joined(separator: "\n"))")
        let (_, errno) = try Self.offenders(of: Self.errnoText, in: folder, outside: nil)
        #expect(errno.isEmpty, "errno turned into text outside StatefunSystem:\n\(errno.joined(separator: "\n"))")
    }

    /// StatefunSystem is the wall itself: it holds the session's C callbacks and the errno helper.
    @Test func statefunSystemHoldsTheNghttp2WallAndTheErrnoHelper() throws {
        let (checked, nghttp2) = try Self.offenders(of: Self.nghttp2Code, in: "Sources/StatefunSystem", outside: nil)
        #expect(checked >= 5, "only \(checked) files checked")
        #expect(nghttp2.contains { $0.contains("nghttp2_session_callbacks_new") })
        let (_, errno) = try Self.offenders(of: Self.errnoText, in: "Sources/StatefunSystem", outside: nil)
        #expect(errno.count == 1, "\(errno)")
    }

    /// The patterns find what they name, and not their safe neighbours.
    @Test(arguments: [
        ("unowned(unsafe) let replyTo: EventLoop", true), ("let p: UnsafeRawPointer", true), ("import Glibc", true),
        ("bytes.withUnsafeBytes { $0.count }", true), ("unowned let replyTo: EventLoop", false),
        ("let span: RawSpan", false),
    ])
    func thePatternFindsUnsafeCode(_ line: String, _ unsafe: Bool) {
        #expect(line.contains(Self.unsafeCode) == unsafe, "\(line)")
    }

    @Test(arguments: [
        ("import CNghttp2", true), ("nghttp2_session_mem_recv(raw, base, n)", true), ("let nghttp2: NGHTTP2Session", false),
        ("String(cString: strerror(code))", true), ("String(cString: gai_strerror(rc))", false),
    ])
    func theNghttp2AndErrnoPatternsFindWhatTheyName(_ line: String, _ found: Bool) {
        #expect((line.contains(Self.nghttp2Code) || line.contains(Self.errnoText)) == found, "\(line)")
    }
}
