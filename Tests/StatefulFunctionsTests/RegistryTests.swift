import Greeter
import StatefulFunctions
import Testing

@Suite struct RegistryTests {
    @Test(arguments: ["example/greeter", "com.example.foo/bar-baz", "a/b"])
    func acceptsNamespaceSlashName(_ typename: String) throws {
        let functions = StatefulFunctions()
        try functions.bind(typename) { _, _ in }
        #expect(functions.functionTypes.map(\.description) == [typename])
    }

    @Test(arguments: [
        ("", "a type name must be provided"),
        ("greeter", "a type name must be of the form namespace/name"),
        ("a/b/c", "a type name must be of the form namespace/name"),
        ("/greeter", "the namespace must not be empty"),
        ("example/", "the name must not be empty"),
    ])
    func rejectsMalformedTypenames(_ typename: String, _ reason: String) {
        let functions = StatefulFunctions()
        #expect(throws: StatefulFunctionsError.invalidTypename(typename, reason: reason)) {
            try functions.bind(typename) { _, _ in }
        }
        #expect(functions.functionTypes.isEmpty)
    }

    @Test func registerReplacesAndLooksUp() throws {
        let functions = StatefulFunctions()
        try functions.register("example/a", StatefulFunction { _, _ in })
        try functions.register("example/a", Example_GreetRequest.self) { _, _ in }
        let function = try #require(functions.function(for: FunctionType("example/a")))
        #expect(function.acceptedTypes.map { $0.map { $0.typeName } } == [Example_GreetRequest.typeName])
        #expect(functions.function(for: FunctionType(namespace: "example", name: "b")) == nil)
    }

    @Test func addressParsesTypename() throws {
        let address = try Address("example/greeter", id: "bob")
        #expect(address == Address(namespace: "example", type: "greeter", id: "bob"))
        #expect(address.typename == "example/greeter")
        #expect(address.description == "example/greeter/bob")
        #expect(throws: StatefulFunctionsError.self) { try Address("greeter", id: "bob") }
    }
}
