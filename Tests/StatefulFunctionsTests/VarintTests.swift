@testable import StatefulFunctions
import Testing

/// The one varint reader, at its edges: protobuf reads at most ten bytes and
/// drops the bits past the 64th; anything longer, or cut short, is no varint.
@Suite("Varint reader")
struct VarintTests {
    static func read(_ bytes: [UInt8], at index: Int = 0) -> (UInt64, Int)? {
        bytes.withUnsafeBufferPointer { readVarint($0, at: index) }
    }

    @Test(arguments: [
        ([UInt8(0x00)], UInt64(0), 1), ([0x7F], 127, 1), ([0x80, 0x01], 128, 2), ([0xAC, 0x02], 300, 2),
        // A varint in a longer form than needed is read (protobuf accepts it).
        ([0x80, 0x80, 0x00], 0, 3),
    ])
    func reads(_ bytes: [UInt8], _ value: UInt64, _ end: Int) throws {
        let read = try #require(Self.read(bytes))
        #expect(read.0 == value && read.1 == end)
    }

    @Test func tenBytes() throws {
        let max = try #require(Self.read([UInt8](repeating: 0xFF, count: 9) + [0x01]))
        #expect(max.0 == UInt64.max && max.1 == 10)
        // A tenth byte above 1: the bits past the 64th are dropped, as protobuf drops them.
        let wide = try #require(Self.read([UInt8](repeating: 0xFF, count: 9) + [0x7F]))
        #expect(wide.0 == UInt64.max && wide.1 == 10)
        let high = try #require(Self.read([UInt8](repeating: 0x80, count: 9) + [0x01]))
        #expect(high.0 == 1 << 63 && high.1 == 10)
    }

    @Test func overlong() {
        #expect(Self.read([UInt8](repeating: 0x80, count: 10) + [0x00]) == nil)
        #expect(Self.read([UInt8](repeating: 0xFF, count: 11) + [0x01]) == nil)
    }

    @Test func truncated() {
        #expect(Self.read([]) == nil)
        #expect(Self.read([0x80]) == nil)
        #expect(Self.read([UInt8](repeating: 0xFF, count: 9)) == nil)
        #expect(Self.read([0x01], at: 1) == nil)
    }

    @Test func fromAnOffset() throws {
        let read = try #require(Self.read([0xFF, 0xAC, 0x02, 0x07], at: 1))
        #expect(read.0 == 300 && read.1 == 3)
    }

    /// The slice form (the server's request description, statefun-local's JSON) reads the same.
    @Test func aSliceReadsFromItsStart() throws {
        let bytes: [UInt8] = [0x09, 0xAC, 0x02, 0x07]
        let read = try #require(readVarint(bytes[1...]))
        #expect(read.value == 300 && read.length == 2)
        #expect(readVarint(bytes[4...]) == nil)
        #expect(readVarint(([UInt8](repeating: 0x80, count: 10) + [0x00])[...]) == nil)
        let ten = try #require(readVarint(([0x00] + [UInt8](repeating: 0xFF, count: 9) + [0x01])[1...]))
        #expect(ten.value == UInt64.max && ten.length == 10)
    }
}
