import Foundation
import StatefulFunctions
import Testing

/// `StatefulFunctions.version`, CHANGELOG.md's latest release and the README's dependency line agree.
@Suite struct VersionTests {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func text(_ file: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
    }

    @Test func theVersionIsSemantic() throws {
        let parts = StatefulFunctions.version.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && UInt($0) != nil && ($0 == "0" || !$0.hasPrefix("0")) })
    }

    @Test func theChangelogsLatestReleaseIsTheVersion() throws {
        let headings = try text("CHANGELOG.md").split(separator: "\n").filter { $0.hasPrefix("## [") }
        // Keep a Changelog: Unreleased first, then releases, newest first, each `## [x.y.z] - YYYY-MM-DD`.
        #expect(headings.first == "## [Unreleased]")
        let latest = try #require(headings.dropFirst().first)
        #expect(latest.hasPrefix("## [\(StatefulFunctions.version)] - "), "\(latest)")
        let date = latest.split(separator: " - ").last.map(String.init) ?? ""
        #expect(date.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil, "\(latest)")
    }

    @Test func theReadmesDependencyLineNamesTheVersion() throws {
        let lines = try text("README.md").split(separator: "\n").filter { $0.contains(".package(url:") && $0.contains("swift-statefun") }
        #expect(lines.count == 1, "the README should have one dependency line for swift-statefun: \(lines)")
        for line in lines {
            #expect(line.contains("from: \"\(StatefulFunctions.version)\""), "\(line)")
        }
    }
}
