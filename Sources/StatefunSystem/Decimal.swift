// Decimal digits written into bytes without building a String: a response's
// status and length, on both protocols.

/// Appends the decimal digits of `value` (not negative), without building a String.
@inlinable
package func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
        let count = writeDecimal(value, to: digits)
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[..<count]))
    }
}

/// Writes the decimal digits of `value` (not negative) at the start of
/// `buffer` (20 bytes hold any Int); returns how many.
@inlinable
package func writeDecimal(_ value: Int, to buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
    let value = max(value, 0)
    var count = 1
    var rest = value / 10
    while rest > 0 {
        count += 1
        rest /= 10
    }
    rest = value
    var i = count
    repeat {
        i -= 1
        buffer[i] = UInt8(ascii: "0") + UInt8(rest % 10)
        rest /= 10
    } while i > 0
    return count
}
