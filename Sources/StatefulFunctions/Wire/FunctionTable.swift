import CStatefunProtocol
import CoreMetrics
import Glibc

/// The functions a handler serves, found from the bytes of a request's target.
///
/// A request names its function type as two C strings. Comparing those bytes
/// with the few registered types costs less than building two Swift strings
/// and hashing them; the target address then shares the registered strings.
/// Each entry also carries its metrics and the type names its messages usually
/// have, so that a decoded type URL can share the string the function's
/// unpacker compares it with.
final class FunctionTable: Sendable {
    final class Entry: Sendable {
        let type: FunctionType
        let function: StatefulFunction
        let invocations: Counter
        let batchSizes: Recorder
        /// The type names of the function's accepted message types, as
        /// Swift strings and as C strings.
        let messageTypeNames: [KnownString]
        /// The type names of its declared states (3.x).
        let stateTypeNames: [KnownString]
        fileprivate let namespace: [CChar]
        fileprivate let name: [CChar]

        init(type: FunctionType, function: StatefulFunction, metricsFactory: any MetricsFactory) {
            let dimensions = [("function_type", type.description)]
            self.type = type
            self.function = function
            invocations = Counter(label: "statefun_invocations_total", dimensions: dimensions, factory: metricsFactory)
            batchSizes = Recorder(
                label: "statefun_batch_size", dimensions: dimensions, aggregate: true, factory: metricsFactory)
            messageTypeNames = (function.acceptedTypes ?? []).map { KnownString($0.typeName) }
            stateTypeNames = function.valueSpecs.map { KnownString($0.typeName) }
            namespace = Array(type.namespace.utf8CString)
            name = Array(type.name.utf8CString)
        }
    }

    let entries: [Entry]
    /// By function type, for handlers serving many functions (a scan is faster for a few).
    private let index: [FunctionType: Int]?

    init(_ functions: [FunctionType: StatefulFunction], metricsFactory: any MetricsFactory) {
        entries = functions.sorted { $0.key.description < $1.key.description }.map { type, function in
            Entry(type: type, function: function, metricsFactory: metricsFactory)
        }
        if entries.count > 8 {
            var index: [FunctionType: Int] = [:]
            for (i, entry) in entries.enumerated() { index[entry.type] = i }
            self.index = index
        } else {
            self.index = nil
        }
    }

    var functionTypes: [FunctionType] { entries.map(\.type) }

    /// The target address of a request, and the entry of the function it names (if any).
    func target(
        namespace: UnsafePointer<CChar>?, type: UnsafePointer<CChar>?, id: UnsafePointer<CChar>?
    ) -> (address: Address, entry: Int?) {
        let id = String(protobufC: id)
        if let index {
            let address = Address(FunctionType(protobufC: namespace, type), id: id)
            return (address, index[address.functionType])
        }
        for (i, entry) in entries.enumerated()
        where Self.equal(namespace, entry.namespace) && Self.equal(type, entry.name) {
            return (Address(entry.type, id: id), i)
        }
        return (Address(FunctionType(protobufC: namespace, type), id: id), nil)
    }

    private static func equal(_ field: UnsafePointer<CChar>?, _ known: [CChar]) -> Bool {
        guard let field else { return known.count == 1 }  // an absent field is the empty string
        return known.withUnsafeBufferPointer { strcmp(field, $0.baseAddress!) == 0 }
    }
}

/// A string known before any request comes (a type name): decoded fields equal
/// to it become this very string, whose comparisons then succeed at once.
struct KnownString: Sendable {
    let string: String
    let cString: [CChar]

    init(_ string: String) {
        self.string = string
        self.cString = Array(string.utf8CString)
    }
}

/// Turns the C strings of one decoded request into Swift strings, reusing
/// the last string when the same text comes again (the invocations of a batch
/// mostly share their type URL and their caller), and the known strings.
struct CStringInterner {
    private let known: [KnownString]
    private var lastSource: UnsafePointer<CChar>?
    private var lastString = ""

    init(known: [KnownString] = []) {
        self.known = known
    }

    /// The string at `pointer`, which must be UTF-8 (else the request is
    /// malformed: `field` names it). A string equal to the last one or to a
    /// known one is valid already: only a new one is validated.
    mutating func string(_ pointer: UnsafePointer<CChar>?, field: @autoclosure () -> String) throws -> String {
        guard let pointer else { return "" }
        if let lastSource, lastSource == pointer || strcmp(lastSource, pointer) == 0 { return lastString }
        for candidate in known where candidate.cString.withUnsafeBufferPointer({ strcmp($0.baseAddress!, pointer) == 0 }) {
            lastSource = pointer
            lastString = candidate.string
            return lastString
        }
        try requireUTF8(pointer, in: field())
        lastSource = pointer
        lastString = String(cString: pointer)
        return lastString
    }
}

extension FunctionType {
    /// The function type of a decoded address: its typename is built in one
    /// string from the two C strings (absent is empty).
    init(protobufC namespace: UnsafePointer<CChar>?, _ name: UnsafePointer<CChar>?) {
        let namespaceCount = namespace.map { strlen($0) } ?? 0
        let nameCount = name.map { strlen($0) } ?? 0
        let typename = String(unsafeUninitializedCapacity: namespaceCount + 1 + nameCount) { buffer in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            if let namespace { base.copyMemory(from: namespace, byteCount: namespaceCount) }
            base.storeBytes(of: UInt8(ascii: "/"), toByteOffset: namespaceCount, as: UInt8.self)
            if let name { (base + namespaceCount + 1).copyMemory(from: name, byteCount: nameCount) }
            return namespaceCount + 1 + nameCount
        }
        if typename.utf8.count == namespaceCount + 1 + nameCount {
            self.init(typename: typename, separator: namespaceCount)
        } else {  // invalid UTF-8, repaired: build it from the repaired parts
            self.init(namespace: String(protobufC: namespace), name: String(protobufC: name))
        }
    }
}
