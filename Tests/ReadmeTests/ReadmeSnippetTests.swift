import ChildProcess
import Foundation
import Testing

/// The repository's root: this file is `Tests/ReadmeTests/ReadmeSnippetTests.swift`.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The lines between two markers in a Swift file hold a README block as it
/// is written there, and are compiled with the file.
let blockBegin = "// readme-block-begin"
let blockEnd = "// readme-block-end"

/// The folders whose Swift files hold the compiled copies of README blocks.
let snippetFolders = ["Tests/ReadmeSnippets/Script", "Tests/ReadmeSnippets/Module", "Tests/ReadmeTests"]

/// A fenced Swift block of a Markdown text: its first line's number (from 1) and its text.
struct MarkdownBlock: Equatable {
    let line: Int
    let text: String
}

/// Every ```` ```swift ```` block of `markdown`.
func swiftBlocks(in markdown: String) -> [MarkdownBlock] {
    var blocks: [MarkdownBlock] = []
    var current: (line: Int, lines: [Substring])?
    for (index, line) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if let open = current {
            if trimmed == "```" {
                blocks.append(MarkdownBlock(line: open.line, text: open.lines.joined(separator: "\n")))
                current = nil
            } else {
                current?.lines.append(line)
            }
        } else if trimmed == "```swift" {
            current = (index + 2, [])
        }
    }
    return blocks
}

/// The texts between the markers of a Swift file.
func compiledCopies(in source: String) -> [String] {
    var copies: [String] = []
    var current: [Substring]?
    for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
        if line == blockBegin {
            current = []
        } else if line == blockEnd, let lines = current {
            copies.append(lines.joined(separator: "\n"))
            current = nil
        } else {
            current?.append(line)
        }
    }
    return copies
}

/// A manifest block (a dependent's `Package.swift`) is loaded by SwiftPM instead.
func isManifest(_ block: MarkdownBlock) -> Bool { block.text.hasPrefix("// swift-tools-version") }

/// What differs between a README and the compiled copies: blocks compiled
/// nowhere as written, and copies that are no README block (any more).
func mismatches(readme: String, copies: [String]) -> [String] {
    let blocks = swiftBlocks(in: readme).filter { !isManifest($0) }
    var problems = blocks.filter { !copies.contains($0.text) }.map {
        "README.md:\($0.line): this block is compiled nowhere as written; copy it between '\(blockBegin)' and "
            + "'\(blockEnd)' into a file of \(snippetFolders.joined(separator: ", ")) (first line: \($0.text.prefix(60)))"
    }
    problems += copies.filter { copy in !blocks.contains { $0.text == copy } }.map {
        "a compiled copy is no README block: update it or remove it (first line: \($0.prefix(60)))"
    }
    return problems
}

func readText(_ relativePath: String) throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)
}

func swiftFiles(under folder: String) throws -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: repositoryRoot.appendingPathComponent(folder).path)
    return (enumerator?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".swift") }.sorted().map { folder + "/" + $0 }
}

@Suite("The README's Swift blocks are compiled as written")
struct ReadmeSnippetTests {
    @Test func everyBlockIsACompiledCopyAndEveryCopyABlock() throws {
        let readme = try readText("README.md")
        #expect(swiftBlocks(in: readme).count >= 20)
        let copies = try snippetFolders.flatMap { try swiftFiles(under: $0) }.flatMap { compiledCopies(in: try readText($0)) }
        let problems = mismatches(readme: readme, copies: copies)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func theCheckCatchesAChangedBlockAndAStaleCopy() {
        let readme = "text\n```swift\nlet a = 1\nprint(a)\n```\nmore\n```sh\nnot swift\n```\n```swift\nlet b = 2\n```\n"
        #expect(swiftBlocks(in: readme) == [MarkdownBlock(line: 3, text: "let a = 1\nprint(a)"), MarkdownBlock(line: 11, text: "let b = 2")])
        #expect(mismatches(readme: readme, copies: ["let a = 1\nprint(a)", "let b = 2"]).isEmpty)
        let changed = mismatches(readme: readme, copies: ["let a = 1\nprint(a) ", "let b = 2"])
        #expect(changed.count == 2)
        #expect(changed.first?.hasPrefix("README.md:3: this block is compiled nowhere as written") == true)
        #expect(mismatches(readme: readme, copies: ["let a = 1\nprint(a)"]).count == 1)
        let source = "x\n\(blockBegin)\nlet b = 2\n\(blockEnd)\ny\n"
        #expect(compiledCopies(in: source) == ["let b = 2"])
    }

    /// The dependent's `Package.swift` of "Add it to your package" loads (SwiftPM
    /// compiles and runs it) and declares what the README says.
    @Test func theManifestBlockLoads() async throws {
        let manifests = swiftBlocks(in: try readText("README.md")).filter(isManifest)
        try #require(manifests.count == 1)
        let folder = NSTemporaryDirectory() + "readme-manifest-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try manifests[0].text.write(toFile: folder + "/Package.swift", atomically: true, encoding: .utf8)
        let outputPath = folder + "/dump.json"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let process = try ChildProcess(
            "/usr/bin/env", ["swift", "package", "--package-path", folder, "dump-package"],
            stdout: .descriptor(output.fileDescriptor), stderr: .descriptor(output.fileDescriptor))
        try output.close()
        // Awaited, not waited for on the task pool (``ChildProcess/exitStatus()``).
        let status = await process.exitStatus()
        let dump = try String(contentsOfFile: outputPath, encoding: .utf8)
        #expect(status == 0, "\(dump)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        let products = (json["targets"] as? [[String: Any]] ?? []).flatMap { target in
            (target["dependencies"] as? [[String: Any]] ?? []).compactMap { ($0["product"] as? [Any])?.first as? String }
        }
        #expect(Set(products) == ["StatefulFunctions", "StatefunTestKit", "StatefunCommandLine", "ArgumentParser"])
        #expect(dump.contains("swift-statefun.git"))
    }

    /// The SDK and the TestKit build where the server does not: every import of
    /// a platform's C library or of FoundationEssentials is conditional (in the
    /// lock they depend on too).
    @Test(arguments: ["Sources/StatefulFunctions", "Sources/StatefulFunctionsProtobuf", "Sources/StatefunTestKit",
                      "Sources/StatefunLocks"])
    func noPlatformImportIsUnconditional(_ folder: String) throws {
        let platformModules = ["Glibc", "Musl", "Darwin", "FoundationEssentials"]
        let files = try swiftFiles(under: folder)
        try #require(!files.isEmpty)
        for file in files {
            let lines = try readText(file).split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() {
                let words = line.split(separator: " ")
                guard let importIndex = words.firstIndex(of: "import"), importIndex + 1 < words.count,
                    platformModules.contains(String(words[importIndex + 1]))
                else { continue }
                let module = words[importIndex + 1]
                let guarded = index > 0 && ["#if canImport(\(module))", "#elseif canImport(\(module))"].contains(String(lines[index - 1]))
                #expect(guarded, "\(file):\(index + 1): `\(line)` is not under #if canImport(\(module))")
            }
        }
    }
}
