import DeltaCore

/// PostgreSQL timestamp text (DateStyle ISO: `2024-02-29 23:59:59.123456+05:30`, `0044-03-15 00:00:00 BC`,
/// `infinity`) to and from Unix microseconds, and PostgreSQL's own epoch (2000-01-01).
///
/// Invariant: `parse(format(t)) == t` for every representable `t`; `infinity` and `-infinity` are
/// `Int64.max` and `Int64.min`. Dates are proleptic Gregorian, as in PostgreSQL.
public enum PostgresTimestamp {
    /// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for wire timestamps.
    public static let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000
    /// The earliest timestamp PostgreSQL accepts, 4714-11-24 00:00:00 BC, in Unix µs.
    public static let minimumMicros: Int64 = -210_866_803_200_000_000

    /// Unix µs from µs since 2000-01-01; nil on overflow.
    public static func unixMicros(fromPostgres micros: Int64) -> Int64? {
        let (v, overflow) = micros.addingReportingOverflow(postgresEpochOffsetMicros)
        return overflow ? nil : v
    }

    /// Parses a timestamp as PostgreSQL prints it with DateStyle ISO, with or without a UTC offset (`+00`,
    /// `-03:30`, `+05:53:28`, `Z`), fractional seconds, a ` BC` suffix, or a `T` separator. Text without an
    /// offset is taken as UTC (a `timestamp without time zone`). Returns Unix µs, or nil.
    public static func parse(_ text: some StringProtocol) -> Int64? {
        var string = String(text)
        return string.withUTF8 { parse(bytes: $0) }
    }

    /// ``parse(_:)`` of UTF-8 bytes (a result's or a tuple's buffer).
    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        if let first = bytes.first, first > UInt8(ascii: "9") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            switch String(decoding: bytes, as: UTF8.self) {
            case "infinity", "+infinity": return Int64.max
            case "-infinity": return Int64.min
            default: break
            }
        }
        var p = Scanner(bytes)
        guard let year = p.number(minDigits: 1, maxDigits: 9), p.skip("-"),
              let month = p.number(minDigits: 2, maxDigits: 2), p.skip("-"),
              let day = p.number(minDigits: 2, maxDigits: 2) else { return nil }
        var timeOfDay: Int64 = 0
        var offsetSeconds: Int64 = 0
        if p.skip(" ") || p.skip("T") {
            guard let hh = p.number(minDigits: 2, maxDigits: 2), p.skip(":"),
                  let mm = p.number(minDigits: 2, maxDigits: 2) else { return nil }
            var ss: Int64 = 0
            var frac: Int64 = 0
            if p.skip(":") {
                guard let s = p.number(minDigits: 2, maxDigits: 2) else { return nil }
                ss = s
                if p.skip(".") {
                    var digits = 0
                    while let d = p.digit() {
                        if digits < 6 { frac = frac * 10 + d }
                        digits += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in min(digits, 6)..<6 { frac *= 10 }
                }
            }
            guard hh < 24 || (hh == 24 && mm == 0 && ss == 0 && frac == 0), mm < 60, ss <= 60 else { return nil }
            timeOfDay = ((hh * 60 + mm) * 60 + ss) * 1_000_000 + frac
            if p.skip("Z") {
                offsetSeconds = 0
            } else if let sign: Int64 = p.skip("+") ? 1 : (p.skip("-") ? -1 : nil) {
                guard let oh = p.number(minDigits: 2, maxDigits: 2), oh <= 15 else { return nil }
                var om: Int64 = 0
                var os: Int64 = 0
                let colon = p.skip(":")
                if let m = p.number(minDigits: 2, maxDigits: 2) {
                    om = m
                    if (colon ? p.skip(":") : true), let s = p.number(minDigits: 2, maxDigits: 2) { os = s }
                } else if colon {
                    return nil
                }
                guard om < 60, os < 60 else { return nil }
                offsetSeconds = sign * (oh * 3600 + om * 60 + os)
            }
        }
        var astronomicalYear = year
        if p.skip(" BC") {
            guard year >= 1 else { return nil }
            astronomicalYear = 1 - year
        }
        guard p.atEnd, (1...12).contains(month), day >= 1, day <= Timestamps.daysInMonth(astronomicalYear, month) else { return nil }
        let days = Timestamps.days(fromCivil: astronomicalYear, month, day)
        let (dayMicros, o1) = days.multipliedReportingOverflow(by: 86_400_000_000)
        let (local, o2) = dayMicros.addingReportingOverflow(timeOfDay)
        let (utc, o3) = local.subtractingReportingOverflow(offsetSeconds * 1_000_000)
        guard !o1, !o2, !o3, utc != Int64.max, utc != Int64.min else { return nil }
        return utc
    }

    /// `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC, fractional digits without trailing zeros, then `+00` when
    /// `withOffset`, then ` BC` for years before 1; `infinity` / `-infinity` for `Int64.max` / `Int64.min`.
    public static func format(_ micros: Int64, withOffset: Bool = true) -> String {
        if micros == Int64.max { return "infinity" }
        if micros == Int64.min { return "-infinity" }
        let (days, microsOfDay) = floorDivide(micros, 86_400_000_000)
        let (y, m, d) = Timestamps.civil(fromDays: days)
        let seconds = microsOfDay / 1_000_000
        var frac = microsOfDay % 1_000_000
        var out = [UInt8]()
        out.reserveCapacity(36)
        appendPadded(y <= 0 ? 1 - y : y, 4, &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(m, 2, &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(d, 2, &out)
        out.append(UInt8(ascii: " "))
        appendPadded(seconds / 3600, 2, &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(seconds / 60 % 60, 2, &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(seconds % 60, 2, &out)
        if frac != 0 {
            var width = 6
            while frac % 10 == 0 { frac /= 10; width -= 1 }
            out.append(UInt8(ascii: "."))
            appendPadded(frac, width, &out)
        }
        if withOffset { out += "+00".utf8 }
        if y <= 0 { out += " BC".utf8 }
        return String(decoding: out, as: UTF8.self)
    }

    /// The decimal digits of `v` (not negative), left-padded with zeros to `width`.
    private static func appendPadded(_ v: Int64, _ width: Int, _ out: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = UInt64(v)
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(48 + rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            for _ in count..<max(count, width) { out.append(48) }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
    }

    /// The UTC calendar date of `micros`, `YYYY-MM-DD` (with ` BC` before year 1), as PostgreSQL prints `date`.
    public static func formatDate(_ micros: Int64) -> String {
        let (days, _) = floorDivide(micros, 86_400_000_000)
        let (y, m, d) = Timestamps.civil(fromDays: days)
        return pad(y <= 0 ? 1 - y : y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + (y <= 0 ? " BC" : "")
    }

    private struct Scanner {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0
        init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }
        var atEnd: Bool { i == b.count }

        mutating func digit() -> Int64? {
            guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
            defer { i += 1 }
            return Int64(b[i] - 48)
        }

        mutating func number(minDigits: Int, maxDigits: Int) -> Int64? {
            let start = i
            var v: Int64 = 0
            while i - start < maxDigits, let d = digit() { v = v * 10 + d }
            if i - start < minDigits { i = start; return nil }
            return v
        }

        mutating func skip(_ s: String) -> Bool {
            let u = s.utf8
            guard b.count - i >= u.count, b[i..<(i + u.count)].elementsEqual(u) else { return false }
            i += u.count
            return true
        }
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 { r += b; q -= 1 }
        return (q, r)
    }
}
