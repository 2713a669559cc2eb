import Foundation

// Timestamps and durations in the proto3 JSON mapping.

extension ProtobufSchema {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as seconds and nanoseconds since 1970.
    static func parseTimestamp(_ text: String) -> (Int64, Int32)? {
        let u = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= u.count else { return nil }
            var value: Int64 = 0
            for index in range {
                guard u[index] >= 48, u[index] <= 57 else { return nil }
                value = value * 10 + Int64(u[index] - 48)
            }
            return value
        }
        guard u.count >= 20, let year = number(0..<4), u[4] == 45, let month = number(5..<7), u[7] == 45,
              let day = number(8..<10), u[10] == 84 || u[10] == 116, let hour = number(11..<13), u[13] == 58,
              let minute = number(14..<16), u[16] == 58, let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        guard let nanos = fraction(u, &index) else { return nil }
        var offset: Int64 = 0
        if index < u.count, u[index] == 90 || u[index] == 122 {
            index += 1
        } else if index < u.count, u[index] == 43 || u[index] == 45, let hours = number((index + 1)..<(index + 3)),
                  index + 3 < u.count, u[index + 3] == 58, let minutes = number((index + 4)..<(index + 6))
        {
            offset = (u[index] == 45 ? -1 : 1) * (hours * 3600 + minutes * 60)
            index += 6
        } else {
            return nil
        }
        guard index == u.count else { return nil }
        let seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
        return (seconds, nanos)
    }

    /// `[-]S[.fraction]s` as seconds and nanoseconds of the same sign.
    static func parseDuration(_ text: String) -> (Int64, Int32)? {
        let u = Array(text.utf8)
        var index = 0
        let negative = u.first == 45
        if negative { index = 1 }
        let start = index
        var seconds: Int64 = 0
        while index < u.count, u[index] >= 48, u[index] <= 57 {
            guard seconds < 315_576_000_000 else { return nil }
            seconds = seconds * 10 + Int64(u[index] - 48)
            index += 1
        }
        guard index > start, let nanos = fraction(u, &index), index == u.count - 1, u[index] == 115,
              seconds <= 315_576_000_000
        else { return nil }
        return negative ? (-seconds, -nanos) : (seconds, nanos)
    }

    /// An optional `.digits` (1 to 9) at `index`, as nanoseconds.
    private static func fraction(_ u: [UInt8], _ index: inout Int) -> Int32? {
        guard index < u.count, u[index] == 46 else { return 0 }
        index += 1
        var nanos: Int32 = 0
        var digits = 0
        while index < u.count, u[index] >= 48, u[index] <= 57 {
            guard digits < 9 else { return nil }
            nanos = nanos * 10 + Int32(u[index] - 48)
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<9 { nanos *= 10 }
        return nanos
    }

    static func formatTimestamp(_ seconds: Int64, _ nanos: Int32) -> String? {
        guard nanos >= 0, nanos < 1_000_000_000 else { return nil }
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)
        guard (1...9999).contains(year) else { return nil }
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = String(repeating: "0", count: max(0, 4 - String(year).count)) + "\(year)-\(two(month))-\(two(day))"
        return "\(date)T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))\(fractionText(nanos))Z"
    }

    static func formatDuration(_ seconds: Int64, _ nanos: Int32) -> String? {
        guard (seconds >= 0 && nanos >= 0) || (seconds <= 0 && nanos <= 0), abs(nanos) < 1_000_000_000 else { return nil }
        let sign = seconds < 0 || nanos < 0 ? "-" : ""
        return "\(sign)\(abs(seconds))\(fractionText(abs(nanos)))s"
    }

    /// Nothing, or 3, 6 or 9 digits, as proto3 JSON writes fractions.
    private static func fractionText(_ nanos: Int32) -> String {
        guard nanos != 0 else { return "" }
        var digits = String(nanos)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        if nanos % 1_000_000 == 0 { return "." + digits.prefix(3) }
        if nanos % 1000 == 0 { return "." + digits.prefix(6) }
        return "." + digits
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
