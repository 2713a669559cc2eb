import ChildProcess
import Foundation
import Testing

/// The repository's root: this file is `Tests/StatefulFunctionsTests/UnsafeWallTests.swift`.
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Unsafe code stays behind the SDK's wall: no public declaration names an
/// unsafe or a C type, and only the `Wire/` folders hold unsafe code.
@Suite struct UnsafeWallTests {
    /// A type name no public declaration of the SDK may mention.
    static var unsafeTypeName: Regex<Substring> { #/\b(?:Unsafe\w*|Unmanaged|OpaquePointer|CVaListPointer)\b/# }

    /// Every public declaration of the SDK's modules, as the compiler sees
    /// them (their symbol graphs, from the modules this test was built with),
    /// mentions no unsafe type and no C type.
    @Test(arguments: [
        ("StatefulFunctions", ["Context", "state(_:as:)"]),
        ("StatefulFunctionsProtobuf", ["PackableMessage", "init(packedBytes:)"]),
    ])
    func noPublicDeclarationMentionsAnUnsafeType(_ module: String, _ knownSymbol: [String]) async throws {
        let symbols = try await publicSymbols(of: module)
        try #require(symbols.contains { $0.pathComponents == knownSymbol }, "no \(knownSymbol) in the symbol graph of \(module)")
        var offenders: [String] = []
        for symbol in symbols {
            for fragment in symbol.declarationFragments ?? [] where fragment.kind == "typeIdentifier" {
                if fragment.spelling.contains(Self.unsafeTypeName) || fragment.preciseIdentifier?.hasPrefix("c:") == true {
                    offenders.append("\(symbol.pathComponents.joined(separator: ".")): \(fragment.spelling)")
                }
            }
        }
        #expect(offenders.isEmpty, "public declarations of \(module) mention unsafe types:\n\(offenders.joined(separator: "\n"))")
    }

    /// StatefunSystem, the wall the server and statefun-local share (syscall wrapper,
    /// nghttp2 session), is package-internal: the server re-exports it, so a public
    /// declaration there would be one of the server's, and unsafe. It has none.
    @Test func theSharedSystemWallHasNoPublicDeclaration() async throws {
        let symbols = try await publicSymbols(of: "StatefunSystem")
        #expect(symbols.isEmpty, "public declarations of StatefunSystem: \(symbols.map { $0.pathComponents.joined(separator: ".") })")
    }

    /// The graph holds what the check looks for: `PackableMessage`'s lent form takes a `RawSpan`.
    @Test func theSymbolGraphShowsTheLentBytesAsARawSpan() async throws {
        let symbols = try await publicSymbols(of: "StatefulFunctions")
        let requirements = symbols.filter { $0.pathComponents == ["PackableMessage", "init(packedBytes:)"] }
        let parameterTypes = requirements.flatMap { ($0.declarationFragments ?? []).filter { $0.kind == "typeIdentifier" } }
            .map(\.spelling)
        #expect(parameterTypes.contains("RawSpan"), "\(parameterTypes)")
        #expect(parameterTypes.contains("UInt8"), "\(parameterTypes)")
    }

    /// Outside `Wire/`, the SDK's sources import no C module and name no unsafe type.
    @Test func onlyTheWireFoldersHoldUnsafeCode() throws {
        // Simple word boundaries: by Unicode's rules `bytes.withUnsafeBytes` is one word.
        let unsafeCode = #/\b(?:Unsafe\w*|Unmanaged|OpaquePointer|unsafeBitCast|unsafeDowncast|unsafelyUnwrapped|unsafeUninitializedCapacity|withUnsafe\w*|baseAddress)\b|\bunowned\(unsafe\)|^\s*(?:public |package |internal )?import (?:C[A-Z]\w*|Glibc|Darwin)\b/#
            .wordBoundaryKind(.simple)
        var checked = 0
        var offenders: [String] = []
        for folder in ["Sources/StatefulFunctions", "Sources/StatefulFunctionsProtobuf"] {
            let root = repositoryRoot.appendingPathComponent(folder)
            let files = try #require(FileManager.default.subpathsOfDirectory(atPath: root.path).sorted() as [String]?)
            for file in files where file.hasSuffix(".swift") && !file.hasPrefix("Wire/") {
                let path = "\(folder)/\(file)"
                checked += 1
                let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") && line.contains(unsafeCode) {
                    offenders.append("\(path):\(number + 1): \(line)")
                }
            }
        }
        #expect(checked > 10, "only \(checked) files checked")
        #expect(offenders.isEmpty, "unsafe code outside Wire/:\n\(offenders.joined(separator: "\n"))")
    }

    // MARK: The symbol graph

    struct SymbolGraph: Decodable {
        let symbols: [Symbol]
    }

    struct Symbol: Decodable {
        let pathComponents: [String]
        let declarationFragments: [Fragment]?
    }

    struct Fragment: Decodable {
        let kind: String
        let spelling: String
        let preciseIdentifier: String?
    }

    /// The public symbols of `module` (and of its extensions of other modules'
    /// types), by `swift-symbolgraph-extract` over the module this test links.
    func publicSymbols(of module: String) async throws -> [Symbol] {
        // The test bundle sits in the build directory, beside `Modules/`; the
        // directory above it is named after the target triple.
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let modules = buildDirectory.appendingPathComponent("Modules")
        var triple = buildDirectory.deletingLastPathComponent().lastPathComponent
        if triple.hasSuffix("-apple-macosx") { triple += "15.0" }
        let extractor = try #require(
            executableInPath("swift-symbolgraph-extract"), "swift-symbolgraph-extract is not on the PATH")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("symbols-\(UUID())")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: output) }
        let log = output.appendingPathComponent("extract.log")
        let logDescriptor = open(log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(logDescriptor >= 0)
        let sources = repositoryRoot.appendingPathComponent("Sources").path
        let process = try ChildProcess(
            extractor,
            ["-module-name", module, "-target", triple, "-I", modules.path,
             "-Xcc", "-I\(sources)/CStatefunProtocol/include",
             "-Xcc", "-fmodule-map-file=\(sources)/CProtobufC/module.modulemap",
             "-Xcc", "-fmodule-map-file=\(sources)/CStatefunProtocol/include/module.modulemap",
             "-Xcc", "-fmodule-map-file=\(sources)/CNghttp2/module.modulemap",
             "-minimum-access-level", "public", "-output-dir", output.path],
            stdout: .descriptor(logDescriptor), stderr: .descriptor(logDescriptor))
        close(logDescriptor)
        // Awaited, not waited for on the task pool (``ChildProcess/exitStatus()``).
        let status = await process.exitStatus()
        let graphs = try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.hasSuffix(".symbols.json") }
        try #require(
            status == 0 && !graphs.isEmpty,
            "swift-symbolgraph-extract exited with \(status): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        return try graphs.flatMap { name in
            try JSONDecoder().decode(SymbolGraph.self, from: Data(contentsOf: output.appendingPathComponent(name))).symbols
        }
    }

    func executableInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
