import Greeter
import StatefulFunctions
import Testing

@Suite struct RegistryTests {
    @Test(arguments: ["example/greeter", "com.example.foo/bar-baz", "a/b", "com.example/sub/deep"])
    func acceptsNamespaceSlashName(_ typename: String) throws {
        let functions = StatefulFunctions()
        try functions.bind(typename) { _, _ in }
        #expect(functions.functionTypes.map(\.description) == [typename])
    }

    @Test(arguments: [
        ("", "a type name must be provided"),
        ("greeter", "a type name must be of the form namespace/name"),
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

    /// A function type is bound once: a second binding throws (as the Go SDK's does) and
    /// the first function stays, whichever way each was bound.
    @Test func bindingATypeTwiceThrowsAndKeepsTheFirst() throws {
        let functions = StatefulFunctions()
        try functions.register("example/a", Example_GreetRequest.self) { _, _ in }
        #expect(throws: StatefulFunctionsError.alreadyBound("example/a")) {
            try functions.register("example/a", StatefulFunction { _, _ in })
        }
        #expect(throws: StatefulFunctionsError.alreadyBound("example/a")) {
            try functions.bind("example/a", String.self, states: [ValueSpec("x", Int32.self)]) { _, _ in }
        }
        let function = try #require(functions.function(for: FunctionType("example/a")))
        #expect(function.acceptedTypes.map { $0.map { $0.typeName } } == [Example_GreetRequest.typeName])
        #expect(function.valueSpecs.isEmpty)
        #expect(functions.function(for: FunctionType(namespace: "example", name: "b")) == nil)
        #expect("\(StatefulFunctionsError.alreadyBound("example/a"))"
            == "function type 'example/a' is already bound; each function type is bound once")
        // Another name of the same namespace, or the same name elsewhere, is another type.
        try functions.bind("example/b") { _, _ in }
        try functions.bind("other/a") { _, _ in }
        #expect(functions.functionTypes.map(\.description) == ["example/a", "example/b", "other/a"])
    }

    @Test func addressParsesTypename() throws {
        let address = try Address("example/greeter", id: "bob")
        #expect(address == Address(namespace: "example", type: "greeter", id: "bob"))
        #expect(address.typename == "example/greeter")
        #expect(address.description == "example/greeter/bob")
        #expect(throws: StatefulFunctionsError.self) { try Address("greeter", id: "bob") }
    }

    /// A function type is one `namespace/name` string and the offset of its
    /// `/`: parsed and assembled types are the same values, and the parts come
    /// back whole, whatever characters border the `/`.
    @Test(arguments: [("example", "greeter"), ("é", "\u{301}x"), ("a\u{200D}", "ß"), ("", "b"), ("a/b", "c")])
    func functionTypePartsRoundTrip(_ namespace: String, _ name: String) throws {
        var type = FunctionType(namespace: namespace, name: name)
        #expect(type.namespace == namespace)
        #expect(type.name == name)
        #expect(type.typename == namespace + "/" + name)
        if !namespace.isEmpty && !namespace.contains("/") {
            let parsed = try FunctionType(type.typename)
            #expect(parsed == type)
            #expect(parsed.hashValue == type.hashValue)
            #expect(parsed.namespace == namespace && parsed.name == name)
        }
        type.name = "other"
        #expect(type == FunctionType(namespace: namespace, name: "other"))
        type.namespace = "ns"
        #expect(type.description == "ns/other")

        var address = Address(namespace: namespace, type: name, id: "id")
        #expect(address.functionType == FunctionType(namespace: namespace, name: name))
        #expect(address.namespace == namespace && address.type == name)
        address.type = "t"
        #expect(address == Address(namespace: namespace, type: "t", id: "id"))
        // The same typename split elsewhere is another function type.
        #expect(FunctionType(namespace: "a/b", name: "c") != FunctionType(namespace: "a", name: "b/c"))
    }

    /// A typename splits at its last `/`, as the official SDKs split it.
    @Test func aTypenameSplitsAtItsLastSlash() throws {
        let type = try FunctionType("com.example/sub/deep")
        #expect(type.namespace == "com.example/sub" && type.name == "deep")
        let message = try OutgoingMessage(to: Address(namespace: "a/b", type: "c", id: "i"), message: AnyMessage(typeURL: "t", value: []))
        #expect(message.target.typename == "a/b/c")
    }

    /// An address assembled from parts that do not make a typename is refused
    /// when a message is sent to it, naming what is wrong.
    @Test(arguments: [
        ("", "greeter", "the namespace must not be empty"),
        ("example", "", "the name must not be empty"),
        ("a", "b/c", "the name must not contain '/'"),
    ])
    func sendingToAMalformedAddressIsRefused(_ namespace: String, _ name: String, _ reason: String) {
        let target = Address(namespace: namespace, type: name, id: "id")
        #expect(throws: StatefulFunctionsError.invalidTypename(target.typename, reason: reason)) {
            try OutgoingMessage(to: target, message: AnyMessage(typeURL: "t", value: []))
        }
    }
}
