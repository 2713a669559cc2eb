import Foundation
import StatefulFunctions
import Testing

/// ``JSONMessage``'s coding: ISO 8601 dates by default, and a type's own
/// encoder and decoder when it has them.
@Suite struct JSONMessageTests {
    struct Event: JSONMessage, Equatable {
        static let typeName = "com.example/Event"
        var name: String
        var at: Date
    }

    /// The same fields, coded its own way: snake_case keys, dates as seconds.
    struct LegacyEvent: JSONMessage, Equatable {
        static let typeName = "com.example/LegacyEvent"
        var eventName: String
        var at: Date

        static func makeJSONEncoder() -> JSONEncoder {
            let encoder = JSONMessageCoding.encoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.dateEncodingStrategy = .secondsSince1970
            return encoder
        }

        static func makeJSONDecoder() -> JSONDecoder {
            let decoder = JSONMessageCoding.decoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            decoder.dateDecodingStrategy = .secondsSince1970
            return decoder
        }
    }

    let instant = Date(timeIntervalSince1970: 1_700_000_000.25)

    @Test func datesAreISO8601InUTCWithMilliseconds() throws {
        let bytes = try Event(name: "ann", at: instant).packedBytes()
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"at":"2023-11-14T22:13:20.250Z","name":"ann"}"#)
    }

    @Test func aMessageRoundTrips() throws {
        let event = Event(name: "Zoë", at: instant)
        let packed = try AnyMessage(packing: event)
        #expect(packed.typeURL == "com.example/Event")
        #expect(try packed.unpack(Event.self) == event)
    }

    @Test(arguments: [
        ("2023-11-14T22:13:20.250Z", 1_700_000_000.25),
        ("2023-11-14T22:13:20Z", 1_700_000_000),  // Python's isoformat() without microseconds
        ("2023-11-14T23:13:20.250+01:00", 1_700_000_000.25),  // an offset
        ("2023-11-14T22:13:20.123Z", 1_700_000_000.123),
    ])
    func otherSDKsDatesDecode(_ text: String, _ seconds: Double) throws {
        let event = try Event(packedBytes: Array(#"{"name":"x","at":"\#(text)"}"#.utf8))
        #expect(abs(event.at.timeIntervalSince1970 - seconds) < 0.0005)
    }

    @Test(arguments: ["2023-11-14 22:13:20", "1700000000", "yesterday"])
    func aDateThatIsNotISO8601IsRefused(_ text: String) {
        #expect(throws: DecodingError.self) { try Event(packedBytes: Array(#"{"name":"x","at":"\#(text)"}"#.utf8)) }
    }

    @Test func aTypeCodesItsOwnWay() throws {
        let event = LegacyEvent(eventName: "ann", at: instant)
        let bytes = try event.packedBytes()
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"at":1700000000.25,"event_name":"ann"}"#)
        #expect(try LegacyEvent(packedBytes: bytes) == event)
    }
}
