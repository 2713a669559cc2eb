import ArgumentParser
import Foundation
import StatefunLocal

/// Plays the StateFun runtime on one machine: reads a module.yaml, feeds the
/// endpoints it names with messages from JSON Lines, and prints the egress.
@main
struct StatefunLocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statefun-local",
        abstract: "Runs StateFun functions without Flink: plays the runtime against the endpoints of a module.yaml.",
        discussion: """
            Each input line is a JSON object with a target address and a typed value, for example
              {"target": "example/greeter/ann", "type": "io.statefun.types/string", "value": "ann"}
              {"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "fields": {"1": "ann"}}
              {"target": "example/greeter/ann", "type": "type.googleapis.com/example.GreetRequest", "json": {"name": "ann"}}
            ("json" takes the proto3 JSON form of a message of --descriptor-set; for a type that is not a
            protobuf message, such as a JSONMessage, it is sent as that JSON without a descriptor set.)
            Egress records are printed as JSON Lines on standard output (JSON values as JSON); progress and
            the closing summary go to standard error, and SIGINT prints the summary so far.
            """)

    @Option(help: "The module.yaml declaring the endpoints (2.x or 3.x format).")
    var module: String = "module.yaml"

    @Option(help: "The JSON Lines ingress file; - reads standard input.")
    var input: String = "-"

    @Flag(help: "Deliver delayed messages at once, in due order, instead of after their real delay.")
    var virtualClock = false

    @Option(help: "Seconds one request may take, retries included, before the job fails.")
    var callTimeout: Int = 60

    @Option(help: ArgumentHelp(
        "A FileDescriptorSet (protoc --include_imports --descriptor_set_out=FILE): input lines may then give "
            + "protobuf messages as \"json\", and egress values of its types are printed as JSON.",
        valueName: "file"))
    var descriptorSet: String?

    @Flag(help: "At the end, print each address's final state on standard output, one JSON line per value.")
    var dumpState = false

    @Flag(name: [.customLong("h2c"), .customLong("http2")],
          help: "Speak HTTP/2 cleartext (prior knowledge) to every endpoint; h2c:// and h2c+unix:// URLs in module.yaml do so for one.")
    var h2c = false

    @Option(
        name: .customLong("check-module"),
        help: ArgumentHelp(
            "Only read this module.yaml (or a Kubernetes manifest with it in a ConfigMap), print what it declares "
                + "and exit: 0 when it parses and declares an endpoint, 1 otherwise. May be repeated.",
            valueName: "file"))
    var checkModules: [String] = []

    func run() async throws {
        if !checkModules.isEmpty { return try check(checkModules) }
        let moduleFile = try ModuleFile(yaml: String(contentsOfFile: module, encoding: .utf8))
        var options = LocalRuntime.Options()
        options.virtualClock = virtualClock
        options.callTimeout = .seconds(callTimeout)
        let schema = try descriptorSet.map { try ProtobufSchema(contentsOfFile: $0) }
        options.schema = schema
        let runtime = LocalRuntime(
            module: moduleFile, client: HTTPClient(timeout: .seconds(callTimeout), http2: h2c), options: options,
            output: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) })

        let interrupt = onInterrupt {
            let summary = await runtime.summary
            FileHandle.standardError.write(Data("statefun-local: interrupted; \(summary.description)\n".utf8))
        }
        defer { interrupt.cancel() }

        let progress = Task {
            // A progress line on runs longer than a few seconds.
            try await Task.sleep(for: .seconds(3))
            while !Task.isCancelled {
                FileHandle.standardError.write(Data("statefun-local: \(await runtime.progress)\n".utf8))
                try await Task.sleep(for: .seconds(2))
            }
        }
        defer { progress.cancel() }

        let text = input == "-"
            ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            : try String(contentsOfFile: input, encoding: .utf8)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            do {
                let (target, message) = try JSONValues.ingress(String(line), schema: schema)
                await runtime.ingest(message, to: target)
            } catch {
                throw ValidationError("line \(number + 1): \(error)")
            }
        }
        do {
            let summary = try await runtime.finish()
            if dumpState {
                for line in await runtime.stateLines() { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            }
            FileHandle.standardError.write(Data("statefun-local: \(summary.description)\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("statefun-local: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// On SIGINT: runs `report`, then exits 130 (as a shell reports an interrupted command).
    private func onInterrupt(_ report: @escaping @Sendable () async -> Void) -> any DispatchSourceSignal {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            Task {
                await report()
                Foundation.exit(130)
            }
        }
        source.resume()
        return source
    }

    /// `--check-module`: each file parsed, summed up on standard output; the first failure exits 1.
    func check(_ files: [String]) throws {
        var failed = false
        for file in files {
            do {
                let module = try ModuleFile(yaml: String(contentsOfFile: file, encoding: .utf8))
                let endpoints = module.endpoints.map { endpoint in
                    "\(endpoint.namespace)/\(endpoint.name ?? "*") -> \(endpoint.urlTemplate) (\(endpoint.protocolVersion))"
                }
                let io = { (list: [ModuleFile.IO]) in list.isEmpty ? "none" : list.map { "\($0.id) (\($0.kind))" }.joined(separator: ", ") }
                print("\(file): ok; endpoints: \(endpoints.joined(separator: ", ")); ingresses: \(io(module.ingresses)); egresses: \(io(module.egresses))")
            } catch {
                FileHandle.standardError.write(Data("statefun-local: \(file): \(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
