import Foundation

/// Parses a Flink-style duration: `500ms`, `60000millisecond`, `30s`, `2min`, `1 h`, `1day`.
package func parseDuration(_ text: String) throws -> Duration {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let digits = trimmed.prefix { $0.isNumber }
    let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
    guard let amount = Int64(digits) else { throw LocalRuntimeError.configuration("invalid duration '\(text)'") }
    switch unit {
    case "", "ms", "milli", "millis", "millisecond", "milliseconds": return .milliseconds(amount)
    case "s", "sec", "secs", "second", "seconds": return .seconds(amount)
    case "m", "min", "mins", "minute", "minutes": return .seconds(amount * 60)
    case "h", "hour", "hours": return .seconds(amount * 3600)
    case "d", "day", "days": return .seconds(amount * 86400)
    default: throw LocalRuntimeError.configuration("invalid duration unit in '\(text)'")
    }
}
