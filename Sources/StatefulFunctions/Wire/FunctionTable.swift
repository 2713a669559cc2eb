import CStatefunProtocol
import CoreMetrics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The functions a handler serves, found from the bytes of a request's target.
///
/// A request names its function type as two string fields. Comparing those bytes
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
        /// Swift strings and as bytes.
        let messageTypeNames: [KnownString]
        /// The type names of its declared states (3.x).
        let stateTypeNames: [KnownString]
        fileprivate let namespace: [UInt8]
        fileprivate let name: [UInt8]

        init(type: FunctionType, function: StatefulFunction, metricsFactory: any MetricsFactory) {
            let dimensions = [("function_type", type.description)]
            self.type = type
            self.function = function
            invocations = Counter(label: "statefun_invocations_total", dimensions: dimensions, factory: metricsFactory)
            batchSizes = Recorder(
                label: "statefun_batch_size", dimensions: dimensions, aggregate: true, factory: metricsFactory)
            messageTypeNames = (function.acceptedTypes ?? []).map { KnownString($0.typeName) }
            stateTypeNames = function.valueSpecs.map { KnownString($0.typeName) }
            namespace = Array(type.namespace.utf8)
            name = Array(type.name.utf8)
        }
    }

    let entries: [Entry]
    /// By function type, for handlers serving many functions (a scan is faster for a few).
    private let index: [FunctionType: Int]?

    init(_ functions: [FunctionType: StatefulFunction], metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance) {
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

    /// The target address of a request, and the entry of the function it
    /// names (if any). The fields must be UTF-8 (`what` names them).
    func target(
        namespace: ProtobufCBinaryData, type: ProtobufCBinaryData, id: ProtobufCBinaryData,
        _ what: @autoclosure () -> String
    ) throws -> (address: Address, entry: Int?) {
        let id = try String(utf8Field: id, what())
        if let index {
            let address = Address(try FunctionType(namespace: namespace, name: type, what()), id: id)
            return (address, index[address.functionType])
        }
        for (i, entry) in entries.enumerated() where namespace.equals(entry.namespace) && type.equals(entry.name) {
            return (Address(entry.type, id: id), i)
        }
        return (Address(try FunctionType(namespace: namespace, name: type, what()), id: id), nil)
    }
}

/// A string known before any request comes (a type name): decoded fields equal
/// to it become this very string, whose comparisons then succeed at once.
struct KnownString: Sendable {
    let string: String
    let utf8: [UInt8]

    init(_ string: String) {
        self.string = string
        self.utf8 = Array(string.utf8)
    }
}

/// Turns the string fields of one decoded request into Swift strings, reusing
/// the last string when the same text comes again (the invocations of a batch
/// mostly share their type URL and their caller), and the known strings.
struct FieldInterner {
    private let known: [KnownString]
    private var lastSource = ProtobufCBinaryData(len: 0, data: nil)
    private var lastString = ""

    init(known: [KnownString] = []) {
        self.known = known
    }

    /// The string in `field`, which must be UTF-8 (else the request is
    /// malformed: `what` names the field). A string equal to the last one or
    /// to a known one is valid already: only a new one is validated.
    mutating func string(_ field: ProtobufCBinaryData, field what: @autoclosure () -> String) throws -> String {
        if field.equals(lastSource) { return lastString }
        for candidate in known where field.equals(candidate.utf8) {
            lastSource = field
            lastString = candidate.string
            return lastString
        }
        lastString = try String(utf8Field: field, what())
        lastSource = field
        return lastString
    }
}

extension FunctionType {
    /// The function type of a decoded address: its typename is built in one
    /// string from the two fields (absent is empty), which must be UTF-8.
    init(namespace: ProtobufCBinaryData, name: ProtobufCBinaryData, _ what: @autoclosure () -> String) throws {
        let namespace = namespace.bytes, name = name.bytes
        guard isUTF8(namespace), isUTF8(name) else { throw MalformedRequest("\(what()) is not valid UTF-8") }
        let typename = String(unsafeUninitializedCapacity: namespace.count + 1 + name.count) { buffer in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            if let start = namespace.baseAddress { base.copyMemory(from: start, byteCount: namespace.count) }
            base.storeBytes(of: UInt8(ascii: "/"), toByteOffset: namespace.count, as: UInt8.self)
            if let start = name.baseAddress { (base + namespace.count + 1).copyMemory(from: start, byteCount: name.count) }
            return namespace.count + 1 + name.count
        }
        self.init(typename: typename, separator: namespace.count)
    }
}
