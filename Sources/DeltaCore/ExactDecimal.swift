/// An exact decimal number kept as decimal digits, never through binary floating point.
///
/// Invariant: the value is normalised on construction (no leading zeros, trailing zeros folded into
/// the exponent, no negative zero), so numerically equal decimals are `==` and print the same:
/// `10.50` and `10.5` are one value whose ``description`` is `10.5`.
public struct ExactDecimal: Sendable, Hashable, CustomStringConvertible {
    /// Finite numbers, or one of the special values PostgreSQL's `numeric` and Decimal128 allow.
    enum Kind: UInt8, Sendable, Hashable { case finite, nan, positiveInfinity, negativeInfinity }

    /// The largest exponent accepted, written or adjusted (`1E+999999999`).
    static let maxExponent = 999_999_999

    let kind: Kind
    let negative: Bool
    /// Significant digits, ASCII, without leading or trailing zeros ("0" for zero).
    let digits: String
    /// value = digits × 10^exponent
    let exponent: Int

    /// Parses `-12.340`, `1e-3`, `+7`, `NaN`, `Infinity`, `-Infinity`. Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        var s = Substring(text)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        let lower = s.lowercased()
        switch lower {
        case "nan", "-nan", "+nan": self.init(kind: .nan); return
        case "infinity", "inf", "+infinity", "+inf": self.init(kind: .positiveInfinity); return
        case "-infinity", "-inf": self.init(kind: .negativeInfinity); return
        default: break
        }
        var negative = false
        if s.first == "-" { negative = true; s.removeFirst() } else if s.first == "+" { s.removeFirst() }
        var mantissa = ""
        var fractionDigits = 0
        var seenPoint = false
        var seenDigit = false
        var exponent = 0
        let bytes = Array(s.utf8)
        var idx = 0
        while idx < bytes.count {
            let c = bytes[idx]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                mantissa.unicodeScalars.append(Unicode.Scalar(c))
                seenDigit = true
                if seenPoint { fractionDigits += 1 }
            } else if c == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                let rest = bytes[(idx + 1)...]
                guard rest.count <= 11, let e = Int(String(decoding: rest, as: UTF8.self)), abs(e) <= ExactDecimal.maxExponent else { return nil }
                exponent = e
                break
            } else {
                return nil
            }
            idx += 1
        }
        guard seenDigit else { return nil }
        self.init(negative: negative, rawDigits: mantissa, exponent: exponent - fractionDigits)
        // The scientific form prints the adjusted exponent: keep it parseable (round trip).
        if abs(self.exponent + digits.count - 1) > ExactDecimal.maxExponent { return nil }
    }

    private init(kind: Kind) {
        self.kind = kind
        self.negative = false
        self.digits = "0"
        self.exponent = 0
    }

    init(negative: Bool, rawDigits: String, exponent: Int) {
        var d = Substring(rawDigits.drop { $0 == "0" })
        var e = exponent
        while d.last == "0" { d.removeLast(); e += 1 }
        if d.isEmpty {
            self.kind = .finite
            self.negative = false
            self.digits = "0"
            self.exponent = 0
        } else {
            self.kind = .finite
            self.negative = negative
            self.digits = String(d)
            self.exponent = e
        }
    }

    public var isZero: Bool { kind == .finite && digits == "0" }

    /// Plain notation (`-0.001`, `1200`); scientific (`1E+60`) only past 40 zeros of padding.
    public var description: String {
        switch kind {
        case .nan: return "NaN"
        case .positiveInfinity: return "Infinity"
        case .negativeInfinity: return "-Infinity"
        case .finite: break
        }
        let sign = negative ? "-" : ""
        if exponent >= 0 {
            if exponent > 40 { return sign + scientific() }
            return sign + digits + String(repeating: "0", count: exponent)
        }
        let point = digits.count + exponent
        if point > 0 {
            let i = digits.index(digits.startIndex, offsetBy: point)
            return sign + digits[..<i] + "." + digits[i...]
        }
        if -point > 40 { return sign + scientific() }
        return sign + "0." + String(repeating: "0", count: -point) + digits
    }

    private func scientific() -> String {
        let adjusted = exponent + digits.count - 1
        let head = digits.prefix(1)
        let tail = digits.dropFirst()
        return head + (tail.isEmpty ? "" : "." + tail) + "E" + (adjusted >= 0 ? "+" : "") + String(adjusted)
    }

    /// Numeric order: -Infinity < finite numbers < Infinity < NaN.
    public static func compare(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        func rank(_ x: ExactDecimal) -> Int {
            switch x.kind {
            case .negativeInfinity: 0
            case .finite: 1
            case .positiveInfinity: 2
            case .nan: 3
            }
        }
        let (ra, rb) = (rank(a), rank(b))
        if ra != rb { return ra < rb ? -1 : 1 }
        guard a.kind == .finite else { return 0 }
        let signA = a.isZero ? 0 : (a.negative ? -1 : 1)
        let signB = b.isZero ? 0 : (b.negative ? -1 : 1)
        if signA != signB { return signA < signB ? -1 : 1 }
        if signA == 0 { return 0 }
        let magnitude = compareMagnitude(a, b)
        return signA > 0 ? magnitude : -magnitude
    }

    private static func compareMagnitude(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        let adjA = a.digits.count + a.exponent
        let adjB = b.digits.count + b.exponent
        if adjA != adjB { return adjA < adjB ? -1 : 1 }
        // Same position of the leading digit: compare digit strings, padding the shorter with zeros.
        var ia = a.digits.utf8.makeIterator()
        var ib = b.digits.utf8.makeIterator()
        while true {
            let x = ia.next()
            let y = ib.next()
            if x == nil && y == nil { return 0 }
            let dx = x ?? UInt8(ascii: "0")
            let dy = y ?? UInt8(ascii: "0")
            if dx != dy { return dx < dy ? -1 : 1 }
        }
    }
}
