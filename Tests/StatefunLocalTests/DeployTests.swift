import Foundation
import Greeter
import GreeterV3
import StatefulFunctions
import StatefulFunctionsProtobuf
import StatefunLocal
import StatefunTestKit
import SwiftProtobuf
import Testing

/// The module.yaml files shipped with greeter-v3 in Kafka mode: the example's, the compose
/// stack's and the one in the Kubernetes ConfigMap.
let greeterV3Modules = [
    "Examples/GreeterV3/module.yaml", "deploy/compose/module.yaml", "deploy/kubernetes/statefun-runtime.yaml",
]

func shippedModule(_ path: String) throws -> ModuleFile {
    try ModuleFile(yaml: String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8))
}

/// Every egress message `runtime` captured, as (egress id, type name).
func egressSent(by runtime: TestRuntime, to ids: [String]) throws -> [(String, String)] {
    try ids.flatMap { id in try runtime.egress(id).map { (id, $0.typeURL) } }
}

/// Every module.yaml shipped is consistent with what its functions send: each egress a
/// function sends to is declared, with a kind that takes the message (StateFun's Kafka egress
/// fails the job on anything but a Kafka producer record).
@Suite struct DeployModuleTests {
    @Test(arguments: greeterV3Modules)
    func greeterV3InKafkaModeSendsWhatTheModulesEgressesTake(_ path: String) async throws {
        let module = try shippedModule(path)
        #expect(module.endpoints.map(\.urlTemplate) == ["http://greeter-v3:8000/statefun"])
        #expect(module.ingresses.map(\.id) == ["example/names"])
        #expect(module.egresses.map(\.id) == ["example/out", "example/audit-out"])

        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions, mode: .kafka)
        let runtime = TestRuntime(functions)
        let ann = Address(namespace: "example", type: "greeter", id: "ann")
        // The Kafka ingress delivers raw UTF-8 typed as its valueType, example/plain-text.
        for _ in 1...10 { try await runtime.send(PlainText("ann"), to: ann) }
        let sent = try egressSent(by: runtime, to: ["example/out", "example/audit-out"])
        #expect(sent.count == 11)
        for (id, typeName) in sent {
            #expect(module.egressProblem(id, typeName: typeName) == nil)
        }
    }

    /// The check above catches the bug the example's module.yaml had: built-in strings to Kafka egresses.
    @Test(arguments: greeterV3Modules)
    func builtInStringsToTheseEgressesAreCaught(_ path: String) async throws {
        let module = try shippedModule(path)
        let functions = StatefulFunctions()
        try GreeterV3.register(in: functions)
        let runtime = TestRuntime(functions)
        try await runtime.send("ann", to: Address(namespace: "example", type: "greeter", id: "ann"))
        let sent = try egressSent(by: runtime, to: ["example/out"])
        #expect(sent.map(\.1) == ["io.statefun.types/string"])
        #expect(
            module.egressProblem("example/out", typeName: "io.statefun.types/string")
                == "egress example/out (io.statefun.kafka.v1/egress) takes only "
                + "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord, not io.statefun.types/string")
        #expect(module.egressProblem("example/nowhere", typeName: "io.statefun.types/string") == "Unknown egress example/nowhere: module.yaml does not declare it")
    }

    /// The 2.x module.yaml at the root: the greeter sends 2.x Kafka records to example/greets.
    @Test func theGreeterSendsKafkaRecordsToTheRootModulesEgress() async throws {
        let module = try shippedModule("module.yaml")
        #expect(module.egresses == [ModuleFile.IO(id: "example/greets", kind: "statefun.kafka.io/generic-egress")])
        #expect(module.ingresses.map(\.id) == ["example/names"])
        let functions = StatefulFunctions()
        try Greeter.register(in: functions)
        let runtime = TestRuntime(functions, protocol: .v2)
        try runtime.declareStates(
            module.endpoints.first { $0.name == "greeter" }?.states.map(\.name) ?? [], for: "example/greeter")
        try await runtime.send(Example_GreetRequest.with { $0.name = "ann" }, to: Address(namespace: "example", type: "greeter", id: "ann"))
        let sent = try egressSent(by: runtime, to: ["example/greets"])
        #expect(sent.map(\.1) == [KafkaProducerRecord.typeName])
        for (id, typeName) in sent { #expect(module.egressProblem(id, typeName: typeName) == nil) }
    }

    /// The compose stack and the Kubernetes ConfigMap carry the example's module, comments aside.
    @Test func theDeployedModulesAreTheExamples() throws {
        let example = try shippedModule("Examples/GreeterV3/module.yaml")
        for path in greeterV3Modules.dropFirst() {
            let module = try shippedModule(path)
            #expect(module.ingresses == example.ingresses && module.egresses == example.egresses, "\(path)")
            #expect(module.endpoints.map(\.urlTemplate) == example.endpoints.map(\.urlTemplate), "\(path)")
        }
    }

    @Test func aConfigMapIsReadAsTheModuleItHolds() throws {
        let yaml = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: other }
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: { name: statefun-module }
            data:
              module.yaml: |
                kind: io.statefun.endpoints.v2/http
                spec:
                  functions: example/*
                  urlPathTemplate: http://fn:8000/statefun
                ---
                kind: io.statefun.kinesis.v1/egress
                spec:
                  id: example/stream
            """
        let module = try ModuleFile(yaml: yaml)
        #expect(module.endpoints.map(\.urlTemplate) == ["http://fn:8000/statefun"])
        #expect(module.egresses == [ModuleFile.IO(id: "example/stream", kind: "io.statefun.kinesis.v1/egress")])
        #expect(module.egressProblem("example/stream", typeName: kinesisEgressRecordTypeName) == nil)
        #expect(module.egressProblem("example/stream", typeName: kafkaProducerRecordTypeName) != nil)
        // A manifest without the module has no endpoint: an error, not an empty module.
        #expect(throws: LocalRuntimeError.self) { try ModuleFile(yaml: "apiVersion: v1\nkind: ConfigMap\ndata: {}\n") }
    }
}

@Suite struct CheckModuleTests {
    @Test func checkModulePrintsWhatEachFileDeclares() async throws {
        let example = repositoryRoot.appendingPathComponent("Examples/GreeterV3/module.yaml").path
        let manifest = repositoryRoot.appendingPathComponent("deploy/kubernetes/statefun-runtime.yaml").path
        let run = try await run(statefunLocal, ["--check-module", example, "--check-module", manifest])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        for (line, file) in zip(lines, [example, manifest]) {
            #expect(line == "\(file): ok; endpoints: example/* -> http://greeter-v3:8000/statefun (v3); "
                + "ingresses: example/names (io.statefun.kafka.v1/ingress); "
                + "egresses: example/out (io.statefun.kafka.v1/egress), example/audit-out (io.statefun.kafka.v1/egress)")
        }
    }

    @Test func checkModuleFailsOnAFileWithoutEndpointsOrWithAnInvalidOne() async throws {
        let good = try moduleFile(v3Module("http://fn:8000/statefun", egresses: []))
        let empty = try moduleFile("kind: io.statefun.kafka.v1/egress\nspec:\n  id: example/out\n")
        let invalid = try moduleFile(v3Module("http://fn:8000/statefun", functions: "example"))
        let run = try await run(statefunLocal, ["--check-module", good, "--check-module", empty, "--check-module", invalid])
        #expect(run.status == 1)
        #expect(run.stdout == "\(good): ok; endpoints: example/* -> http://fn:8000/statefun (v3); ingresses: none; egresses: none\n")
        #expect(run.stderr.contains("\(empty): configuration: module.yaml declares no remote function endpoint"))
        #expect(run.stderr.contains("\(invalid): configuration: invalid function pattern 'example'"))
    }
}
