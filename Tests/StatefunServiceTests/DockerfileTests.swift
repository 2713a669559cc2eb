import Foundation
import Testing

/// The Dockerfile, the image that `make verify-image` (scripts/verify-image.sh)
/// reproduces without Docker, and Package.swift agree.
///
/// The script reads the Dockerfile with a parser of its own; its `--print-spec`
/// prints what it read. These tests read the Dockerfile independently and
/// compare, check the image's own consistency (USER and useradd, EXPOSE and
/// STATEFUN_PORT, ENTRYPOINT and the copied binary), and check that the build
/// image's Swift is at least Package.swift's swift-tools-version.
@Suite struct DockerfileTests {
    static let dockerfile = repositoryRoot.appendingPathComponent("Dockerfile")

    @Test func scriptReadsWhatTheDockerfileSays() async throws {
        let image = try DockerImage(contentsOf: Self.dockerfile)
        let spec = try await printSpec(Self.dockerfile.path)
        #expect(spec["build_image"] == [image.buildImage])
        #expect(spec["runtime_image"] == [image.runtimeImage])
        #expect(spec["build_package"] == image.buildPackages)
        #expect(spec["runtime_package"] == image.runtimePackages)
        #expect(spec["runtime_run"] == image.runtimeRuns)
        #expect(spec["user"] == [image.user])
        #expect(spec["user_command"] == [image.userCommand])
        #expect(spec["env"] == image.environment.map { "\($0.0)=\($0.1)" })
        #expect(spec["expose"] == image.exposed)
        #expect(spec["entrypoint"] == image.entrypoint)
        #expect(spec["binary"] == [image.binary])
        #expect(spec["build_command"] == [image.buildCommand])
    }

    /// The template of a user's own module (deploy/template/Dockerfile) builds
    /// the same way and runs the very runtime stage `make verify-image` checks.
    @Test func theTemplateForAUsersModuleMatchesTheImage() throws {
        let template = repositoryRoot.appendingPathComponent("deploy/template/Dockerfile")
        let image = try DockerImage(contentsOf: Self.dockerfile)
        let user = try DockerImage(contentsOf: template)
        #expect(user.buildImage == image.buildImage)
        #expect(user.buildPackages == image.buildPackages)
        #expect(user.buildCommand == image.buildCommand)
        #expect(user.problems == [])
        // The runtime stage, from its FROM line to the end, is the same text.
        func runtimeStage(_ url: URL) throws -> String {
            let text = try String(contentsOf: url, encoding: .utf8)
            let start = try #require(text.range(of: "\nFROM debian:"), "no runtime stage in \(url.path)")
            return String(text[start.lowerBound...])
        }
        #expect(try runtimeStage(template) == runtimeStage(Self.dockerfile))
        // It copies the user's package, not this repository's examples and tests.
        let copies = try String(contentsOf: template, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("COPY ") && !$0.contains("--from") }
        #expect(copies == ["COPY Package.* ./", "COPY Sources ./Sources"])
    }

    @Test func imageIsConsistent() throws {
        let image = try DockerImage(contentsOf: Self.dockerfile)
        #expect(image.problems == [])
        // What the issue asks of the image itself.
        #expect(image.userCommand == "useradd --system --uid 10001 statefun")
        #expect(image.environment.first { $0.0 == "STATEFUN_WORKERS" }?.1 == "1")  // supervised
        #expect(image.buildCommand.contains("-c release") && image.buildCommand.contains("--static-swift-stdlib"))
        #expect(image.runtimePackages.contains("libprotobuf-c1") && image.runtimePackages.contains("libnghttp2-14"))
    }

    @Test func buildImageSwiftIsAtLeastTheToolsVersion() throws {
        let image = try DockerImage(contentsOf: Self.dockerfile)
        let manifest = try String(contentsOf: repositoryRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let tools = try #require(toolsVersion(manifest))
        let swift = try #require(swiftVersion(image: image.buildImage))
        #expect(swift.lexicographicallyPrecedes(tools) == false, "\(image.buildImage) is older than tools version \(tools)")
        // The check itself: the image this issue found broken fails it.
        #expect(try #require(swiftVersion(image: "swift:6.1-bookworm")).lexicographicallyPrecedes(tools))
    }

    /// The script's parser follows the Dockerfile rather than knowing the answers:
    /// a changed Dockerfile changes what it prints, and the consistency check sees
    /// an image whose parts disagree.
    @Test func scriptFollowsAChangedDockerfile() async throws {
        let original = try String(contentsOf: Self.dockerfile, encoding: .utf8)
        let changed = original
            .replacingOccurrences(of: "libstdc++6 ca-certificates", with: "libstdc++6 ca-certificates tini")
            .replacingOccurrences(of: "STATEFUN_PORT=8000", with: "STATEFUN_PORT=9000")
            .replacingOccurrences(of: "--uid 10001 statefun", with: "--uid 10002 other")
        #expect(changed != original)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("Dockerfile-\(UUID())")
        try changed.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let spec = try await printSpec(file.path)
        #expect(spec["runtime_package"]?.last == "tini")
        #expect(spec["env"]?.contains("STATEFUN_PORT=9000") == true)
        #expect(spec["user_command"] == ["useradd --system --uid 10002 other"])
        let image = try DockerImage(contentsOf: file)
        #expect(image.problems.contains { $0.contains("EXPOSE") })
        #expect(image.problems.contains { $0.contains("USER") })
    }

    private func printSpec(_ path: String) async throws -> [String: [String]] {
        let (status, output) = try await run(
            "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/verify-image.sh").path, "--print-spec", path])
        try #require(status == 0, "verify-image.sh --print-spec: \(output)")
        var spec: [String: [String]] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            spec[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return spec
    }
}

/// The Dockerfile as these tests read it, independently of the script.
struct DockerImage {
    var buildImage = "", runtimeImage = ""
    var buildPackages: [String] = [], runtimePackages: [String] = []
    var buildCommand = "", runtimeRuns: [String] = []
    var user = "", userCommand = "", binary = ""
    var environment: [(String, String)] = []
    var exposed: [String] = [], entrypoint: [String] = []

    init(contentsOf url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        // Comment lines go, then backslash-newline continuations join.
        let joined = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            .joined(separator: "\n")
            .replacingOccurrences(of: "\\\n", with: " ")
        var stage = 0  // 0: before FROM, 1: build, 2: runtime
        for line in joined.split(separator: "\n") {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let instruction = words.first?.uppercased() else { continue }
            let rest = Array(words.dropFirst())
            let restText = rest.joined(separator: " ")
            switch instruction {
            case "FROM":
                stage += 1
                if stage == 1 { buildImage = rest[0] } else { runtimeImage = rest[0] }
            case "RUN":
                let steps = restText.components(separatedBy: "&&").map { $0.split(separator: " ").map(String.init) }
                let packages = steps.filter { $0.starts(with: ["apt-get", "install"]) }
                    .flatMap { $0.dropFirst(2).filter { !$0.hasPrefix("-") } }
                if stage == 1 {
                    buildPackages += packages
                    if restText.contains("swift build") { buildCommand = restText }
                } else {
                    runtimePackages += packages
                    runtimeRuns.append(restText)
                    if let useradd = steps.first(where: { $0.first == "useradd" }) {
                        userCommand = useradd.joined(separator: " ")
                    }
                }
            case "COPY" where stage == 2 && rest.first?.hasPrefix("--from=") == true:
                binary = rest[2]
            case "USER": user = restText
            case "EXPOSE": exposed += rest
            case "ENV":
                environment += rest.map { pair in
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    return (parts[0], parts.count > 1 ? parts[1] : "")
                }
            case "ENTRYPOINT":
                entrypoint = try JSONDecoder().decode([String].self, from: Data(restText.utf8))
            default: break
            }
        }
    }

    /// Where the image's parts disagree with each other.
    var problems: [String] {
        var problems: [String] = []
        let port = environment.first { $0.0 == "STATEFUN_PORT" }?.1
        if exposed != [port ?? "8000"] { problems.append("EXPOSE \(exposed) but STATEFUN_PORT=\(port ?? "unset")") }
        let useradd = userCommand.split(separator: " ").map(String.init)
        if useradd.last != user { problems.append("USER \(user) but \(userCommand)") }
        if let uid = useradd.firstIndex(of: "--uid").map({ useradd[$0 + 1] }), (Int(uid) ?? 0) < 1000 {
            problems.append("uid \(uid) is not an unprivileged user's")
        }
        if user.isEmpty || user == "root" { problems.append("USER \(user): the image would run as root") }
        if entrypoint.first != binary { problems.append("ENTRYPOINT \(entrypoint) but the binary is at \(binary)") }
        if environment.first(where: { $0.0 == "STATEFUN_HOST" })?.1 != "0.0.0.0" {
            problems.append("STATEFUN_HOST is not 0.0.0.0: the port would not be reachable from outside the container")
        }
        return problems
    }
}

/// `// swift-tools-version:6.2` → [6, 2].
func toolsVersion(_ manifest: String) -> [Int]? {
    guard let first = manifest.split(separator: "\n").first, first.hasPrefix("// swift-tools-version") else { return nil }
    return versionNumbers(first.split(separator: ":").last.map(String.init) ?? "")
}

/// `swift:6.2-bookworm` → [6, 2].
func swiftVersion(image: String) -> [Int]? {
    guard image.hasPrefix("swift:") else { return nil }
    return versionNumbers(String(image.dropFirst("swift:".count).prefix { $0 != "-" }))
}

private func versionNumbers(_ text: String) -> [Int]? {
    let numbers = text.trimmingCharacters(in: .whitespaces).split(separator: ".").map { Int($0) }
    guard numbers.count >= 2, numbers.allSatisfy({ $0 != nil }) else { return nil }
    return numbers.compactMap { $0 }.prefix(2).map { $0 }
}
