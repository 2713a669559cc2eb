#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A `Codable` type carried as JSON under a type name of your choosing.
///
/// ```swift
/// struct User: JSONMessage {
///     static let typeName = "com.example/User"
///     var name: String
///     var since: Date        // "2023-11-14T22:13:20.250Z"
/// }
/// ```
///
/// The JSON is written by ``makeJSONEncoder()`` and read by
/// ``makeJSONDecoder()``: by default ``JSONMessageCoding``'s, which write dates
/// as ISO 8601 (RFC 3339) in UTC with milliseconds, as Python's `datetime` and
/// Go's `time.Time` read them, and keys sorted. Implement either to change it:
///
/// ```swift
/// static func makeJSONEncoder() -> JSONEncoder {
///     let encoder = JSONMessageCoding.encoder()
///     encoder.keyEncodingStrategy = .convertToSnakeCase
///     return encoder
/// }
/// ```
public protocol JSONMessage: PackableMessage, Codable {
    /// The encoder that writes this type's JSON (one per message packed).
    static func makeJSONEncoder() -> JSONEncoder
    /// The decoder that reads this type's JSON (one per message unpacked).
    static func makeJSONDecoder() -> JSONDecoder
}

extension JSONMessage {
    public static func makeJSONEncoder() -> JSONEncoder { JSONMessageCoding.encoder() }

    public static func makeJSONDecoder() -> JSONDecoder { JSONMessageCoding.decoder() }

    public init(packedBytes: [UInt8]) throws {
        self = try Self.makeJSONDecoder().decode(Self.self, from: Data(packedBytes))
    }

    public func packedBytes() throws -> [UInt8] {
        Array(try Self.makeJSONEncoder().encode(self))
    }
}

/// The JSON coding of ``JSONMessage`` by default, to start a type's own from.
public enum JSONMessageCoding {
    /// ISO 8601 in UTC with milliseconds: `2023-11-14T22:13:20.250Z`.
    private static let withMilliseconds = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// An encoder that writes dates as ISO 8601 (RFC 3339) in UTC with
    /// milliseconds (`2023-11-14T22:13:20.250Z`), and keys sorted.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(withMilliseconds))
        }
        return encoder
    }

    /// A decoder that reads dates as ISO 8601 (RFC 3339) with or without
    /// fractional seconds and with any offset (`2023-11-14T22:13:20Z`, `…20.250Z`,
    /// Go's `…20.123456789Z`, `2023-11-14T23:13:20+01:00`).
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? withMilliseconds.parse(text) { return date }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return decoder
    }
}
