import FoundationEssentials

/// A `Codable` type carried as JSON under a type name of your choosing.
///
/// ```swift
/// struct User: JSONMessage {
///     static let typeName = "com.example/User"
///     var name: String
/// }
/// ```
public protocol JSONMessage: PackableMessage, Codable {}

extension JSONMessage {
    public init(packedBytes: [UInt8]) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(packedBytes))
    }

    public func packedBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(self))
    }
}
