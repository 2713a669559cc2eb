import Foundation
import StatefunLocal
import SwiftProtobuf
import Synchronization
import Testing

/// A FileDescriptorSet made by protoc from `protos` in `directory`, once per set of protos.
func descriptorSet(_ directory: String, _ protos: [String]) async throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("statefun-local-\(protos.joined(separator: "-"))-\(UUID().uuidString.prefix(8)).desc").path
    let result = try await run(
        "/usr/bin/protoc",
        ["--include_imports", "--descriptor_set_out=\(path)", "-I", repositoryRoot.appendingPathComponent(directory).path,
         "-I", "/usr/include"] + protos)
    guard result.status == 0 else { throw TestFailure("protoc failed: \(result.stderr)") }
    return path
}

func everythingSchema() async throws -> ProtobufSchema {
    try ProtobufSchema(contentsOfFile: try await descriptorSet("Tests/StatefunLocalTests/Protos", ["everything.proto"]))
}

/// swift-protobuf's encoding, maps in key order.
func swiftProtobufBytes(_ message: some SwiftProtobuf.Message) throws -> [UInt8] {
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    return try message.serializedBytes(options: options)
}

func encode(_ schema: ProtobufSchema, _ json: String, as name: String = "localtest.Everything") throws -> [UInt8] {
    try schema.encode(JSONValue.parse(json), as: name)
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: " ") }

@Suite struct ProtobufJSONTests {
    typealias Everything = Localtest_Everything

    @Test func everyKindOfFieldIsEncodedAsSwiftProtobufEncodesIt() async throws {
        let schema = try await everythingSchema()
        let message = Everything.with {
            $0.aDouble = -2.5
            $0.aFloat = 1.25
            $0.anInt32 = -7
            $0.anInt64 = -9_007_199_254_740_993
            $0.aUint32 = 4_000_000_000
            $0.aUint64 = 18_446_744_073_709_551_615
            $0.aSint32 = -300
            $0.aSint64 = -5_000_000_000
            $0.aFixed32 = 123_456
            $0.aFixed64 = 9_876_543_210
            $0.anSfixed32 = -42
            $0.anSfixed64 = -4_242_424_242
            $0.aBool = true
            $0.aString = "grüße ✓"
            $0.someBytes = Data([0, 1, 2, 250, 251, 255])
            $0.color = .negative
            $0.inner = .with { $0.label = "in"; $0.marks = [-1, 0, 1, Int64.min] }
            $0.packedInts = [1, -1, 300, 0]
            $0.names = ["a", "", "c"]
            $0.inners = [.with { $0.label = "x" }, Everything.Inner()]
            $0.colors = [.red, .green, .unspecified, .negative]
            $0.counts = ["b": 2, "a": -1, "zero": 0]
            $0.byID = [10: .with { $0.label = "ten" }, -3: .with { $0.marks = [5] }, 2: Everything.Inner()]
            $0.nested = .with { $0.label = "chosen" }
            $0.maybe = 0
            $0.wrapped = .with { $0.value = 77 }
            $0.doubles = [0.5, -0.0, 1e300]
            $0.bigNumberField = 1
        }
        // lowerCamelCase JSON names and original names mixed; 64-bit integers as strings and as numbers.
        let json = #"""
            {"aDouble": -2.5, "a_float": 1.25, "anInt32": -7, "anInt64": "-9007199254740993",
             "aUint32": 4000000000, "a_uint64": "18446744073709551615", "aSint32": "-300", "aSint64": -5000000000,
             "aFixed32": 123456, "aFixed64": "9876543210", "anSfixed32": -42, "an_sfixed64": "-4242424242",
             "aBool": true, "aString": "grüße ✓", "someBytes": "AAEC+vv/", "color": "NEGATIVE",
             "inner": {"label": "in", "marks": ["-1", 0, 1, "-9223372036854775808"]},
             "packedInts": [1, -1, 300, 0], "names": ["a", "", "c"], "inners": [{"label": "x"}, {}],
             "colors": ["RED", 2, "COLOR_UNSPECIFIED", -1], "counts": {"b": "2", "a": -1, "zero": 0},
             "byId": {"10": {"label": "ten"}, "-3": {"marks": [5]}, "2": {}},
             "nested": {"label": "chosen"}, "maybe": 0, "wrapped": "77", "doubles": [0.5, -0.0, 1e300],
             "big_number_field": 1}
            """#
        let ours = try encode(schema, json)
        let theirs = try swiftProtobufBytes(message)
        #expect(ours == theirs, "\(hex(ours))\nvs\n\(hex(theirs))")
        // And what is decoded re-encodes to the same bytes.
        let bytes = try swiftProtobufBytes(message)
        let decoded = try #require(schema.decode(bytes, as: "localtest.Everything"))
        let text = String(decoding: try JSONSerialization.data(withJSONObject: decoded), as: UTF8.self)
        #expect(try encode(schema, text) == swiftProtobufBytes(message), "\(text)")
    }

    @Test func decodingMatchesSwiftProtobufsJSON() async throws {
        let schema = try await everythingSchema()
        let message = Everything.with {
            $0.anInt64 = 12
            $0.aUint32 = 7
            $0.aFloat = 0.5
            $0.someBytes = Data([1, 2, 3])
            $0.color = .green
            $0.inner = .with { $0.marks = [3, -4] }
            $0.counts = ["k": 1]
            $0.byID = [5: .with { $0.label = "five" }]
            $0.text = "t"
            $0.wrapped = .with { $0.value = -1 }
            $0.aDouble = .infinity
        }
        let bytes: [UInt8] = try message.serializedBytes()
        let ours = try #require(schema.decode(bytes, as: "localtest.Everything"))
        let theirs = try #require(
            try JSONSerialization.jsonObject(with: Data(message.jsonString().utf8)) as? [String: Any])
        #expect(NSDictionary(dictionary: ours).isEqual(to: theirs), "\(ours) vs \(theirs)")
    }

    @Test func proto3DefaultsAreLeftOutUnlessTheFieldHasPresence() async throws {
        let schema = try await everythingSchema()
        let json = #"{"anInt32": 0, "aString": "", "aBool": false, "color": "COLOR_UNSPECIFIED", "names": [], "#
            + #""counts": {}, "zero": 0, "maybe": 0, "inner": {}, "aDouble": null}"#
        let message = Everything.with {
            $0.zero = 0
            $0.maybe = 0
            $0.inner = Everything.Inner()
        }
        #expect(try encode(schema, json) == swiftProtobufBytes(message))
        #expect(try encode(schema, "{}").isEmpty)
    }

    @Test func floatsTakeTheSpecialStrings() async throws {
        let schema = try await everythingSchema()
        let message = Everything.with {
            $0.aDouble = .infinity
            $0.aFloat = -.infinity
            $0.doubles = [1, 2.5]
        }
        #expect(try encode(schema, #"{"aDouble": "Infinity", "aFloat": "-Infinity", "doubles": [1, "2.5"]}"#)
            == swiftProtobufBytes(message))
        let nan = try encode(schema, #"{"aDouble": "NaN"}"#)
        #expect(try Everything(serializedBytes: nan).aDouble.isNaN)
        // URL-safe base64 without padding, as proto3 JSON allows.
        #expect(try Everything(serializedBytes: try encode(schema, #"{"someBytes": "-_8"}"#)).someBytes == Data([0xfb, 0xff]))
    }

    @Test func mistakesAreNamed() async throws {
        let schema = try await everythingSchema()
        func failure(_ json: String) -> String {
            do {
                _ = try encode(schema, json)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(failure(#"{"nmae": 1}"#).contains(#"unknown field "nmae" in localtest.Everything"#))
        #expect(failure(#"{"inner": {"lable": "x"}}"#).contains(#"unknown field "lable" in localtest.Everything.Inner (at localtest.Everything.inner)"#))
        #expect(failure(#"{"anInt32": "many"}"#).contains("localtest.Everything.anInt32 needs an integer"))
        #expect(failure(#"{"anInt32": 3000000000}"#).contains("needs an integer in -2147483648...2147483647"))
        #expect(failure(#"{"aUint64": -1}"#).contains("aUint64 needs an integer in 0...18446744073709551615"))
        #expect(failure(#"{"anInt32": 1.5}"#).contains("needs an integer"))
        #expect(failure(#"{"aString": 5}"#).contains("aString needs a string, not a number"))
        #expect(failure(#"{"aBool": "yes"}"#).contains("aBool needs true or false"))
        #expect(failure(#"{"color": "BLUE"}"#).contains(#""BLUE" is not a value of localtest.Everything.Color"#))
        #expect(failure(#"{"names": "a"}"#).contains("names needs an array, not a string"))
        #expect(failure(#"{"inner": 3}"#).contains("inner needs an object (localtest.Everything.Inner), not a number"))
        #expect(failure(#"{"counts": {"a": "x"}}"#).contains("counts[a] needs an integer"))
        #expect(failure(#"{"byId": {"ten": {}}}"#).contains("byId[ten] needs an integer"))
        #expect(failure(#"{"text": "a", "zero": 1}"#).contains("are both set"))
        #expect(failure(#"{"someBytes": "!!"}"#).contains("someBytes needs base64 bytes"))
        #expect(failure(#"[1]"#).contains("localtest.Everything needs a JSON object, not an array"))
    }

    @Test func timestampsAndDurationsTakeTheirJSONForm() async throws {
        let schema = try await everythingSchema()
        let json = #"""
            {"when": "1972-01-01T10:00:20.021Z", "howLong": "-1.5s",
             "times": ["2024-02-29T23:59:59+01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
                       "1969-12-31T23:59:59.000001Z", "1970-01-01T00:00:00-00:30"]}
            """#
        let message = try Everything(jsonString: json)
        let ours = try encode(schema, json)
        let theirs = try swiftProtobufBytes(message)
        #expect(ours == theirs, "\(hex(ours))\nvs\n\(hex(theirs))")
        #expect(try encode(schema, #"{"howLong": "315576000000.000000001s"}"#)
            == swiftProtobufBytes(try Everything(jsonString: #"{"howLong": "315576000000.000000001s"}"#)))
        // Decoded as swift-protobuf writes them.
        let decoded = try #require(schema.decode(theirs, as: "localtest.Everything"))
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(message.jsonString().utf8)) as? [String: Any])
        #expect(NSDictionary(dictionary: decoded).isEqual(to: expected), "\(decoded) vs \(expected)")
        #expect(throws: LocalRuntimeError.self) { try encode(schema, #"{"when": "yesterday"}"#) }
        #expect(throws: LocalRuntimeError.self) { try encode(schema, #"{"when": "1972-13-01T10:00:20Z"}"#) }
        #expect(throws: LocalRuntimeError.self) { try encode(schema, #"{"howLong": "5"}"#) }
        #expect(throws: LocalRuntimeError.self) { try encode(schema, #"{"howLong": "1.0000000001s"}"#) }
    }

    @Test func typeNamesFindTheirMessage() async throws {
        let schema = try await everythingSchema()
        #expect(schema.messageName(forType: "type.googleapis.com/localtest.Everything") == "localtest.Everything")
        #expect(schema.messageName(forType: "localtest/Everything") == "localtest.Everything")
        #expect(schema.messageName(forType: "localtest/Everything.Inner") == "localtest.Everything.Inner")
        #expect(schema.messageName(forType: "google.protobuf.Int64Value") == "google.protobuf.Int64Value")
        #expect(schema.messageName(forType: "localtest/Nothing") == nil)
    }
}
