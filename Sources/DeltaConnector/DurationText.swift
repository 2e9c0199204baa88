/// Parses the durations of pipeline files into microseconds: `500ms`, `5s`, `2m`, `1h`, `7d`, `250us`,
/// or a bare number of seconds (`5`, `1.5`); a decimal fraction is allowed with any unit.
///
/// Invariant: a parsed duration is non-negative and fits in `Int64` microseconds; fractions of a
/// microsecond are dropped.
public enum DurationText {
    /// Units in the order they are tried (longest suffix first), with their length in microseconds.
    static let units: [(suffix: String, micros: Int64)] = [
        ("ms", 1_000), ("us", 1), ("µs", 1), ("s", 1_000_000), ("m", 60_000_000),
        ("h", 3_600_000_000), ("d", 86_400_000_000),
    ]

    /// The duration in microseconds, or nil when the text is not a duration.
    public static func parse(_ text: String) -> Int64? {
        var body = Substring(text.configTrimmed())
        var unit: Int64 = 1_000_000
        for (suffix, micros) in units where body.hasSuffix(suffix) {
            body = body.dropLast(suffix.count)
            unit = micros
            break
        }
        while body.last == " " { body = body.dropLast() }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return nil }
        let fraction = parts.count > 1 ? parts[1] : ""
        guard fraction.allSatisfy(\.isASCIIDigit), parts.count == 1 || !fraction.isEmpty,
              let wholeValue = Int64(whole) else { return nil }
        let (product, overflow) = wholeValue.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        guard !fraction.isEmpty else { return product }
        // fraction/10^digits × unit, rounded down; at most 6 digits keeps fraction × unit in Int64.
        guard fraction.count <= 6, let fractionValue = Int64(fraction) else { return nil }
        var scale: Int64 = 1
        for _ in 0..<fraction.count { scale *= 10 }
        let (sum, overflow2) = product.addingReportingOverflow(fractionValue * unit / scale)
        return overflow2 ? nil : sum
    }

    /// Formats microseconds the way a pipeline file would write them (`5s`, `7d`, `1500ms`, `250us`).
    public static func format(_ micros: Int64) -> String {
        for (suffix, unit) in [("d", Int64(86_400_000_000)), ("h", 3_600_000_000), ("m", 60_000_000),
                               ("s", 1_000_000), ("ms", 1_000)] where micros != 0 && micros % unit == 0 {
            return "\(micros / unit)\(suffix)"
        }
        return micros == 0 ? "0s" : "\(micros)us"
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    /// The text without leading and trailing spaces, tabs and line breaks (no Foundation needed).
    fileprivate func configTrimmed() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
