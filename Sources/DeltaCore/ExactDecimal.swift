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
        let parsed: ExactDecimal?? = text.utf8.withContiguousStorageIfAvailable { ExactDecimal.parse($0) }
        if let parsed {
            guard let parsed else { return nil }
            self = parsed
        } else {
            guard let parsed = ExactDecimal.parse(Array(text.utf8)) else { return nil }
            self = parsed
        }
    }

    /// Parses the same texts as ``init(_:)`` given as UTF-8 bytes (a driver's buffer), without
    /// making a string of them.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard let parsed = ExactDecimal.parse(bytes) else { return nil }
        self = parsed
    }

    /// The parser behind ``init(_:)``, over UTF-8 bytes.
    private static func parse(_ all: some RandomAccessCollection<UInt8>) -> ExactDecimal? {
        var s = all[...]
        while s.first == UInt8(ascii: " ") { s.removeFirst() }
        while s.last == UInt8(ascii: " ") { s.removeLast() }
        var negative = false
        var body = s
        if body.first == UInt8(ascii: "-") { negative = true; body.removeFirst() } else if body.first == UInt8(ascii: "+") { body.removeFirst() }
        if let first = body.first, first | 0x20 == UInt8(ascii: "i") || first | 0x20 == UInt8(ascii: "n") {
            let word = String(decoding: body, as: UTF8.self).lowercased()
            switch word {
            case "nan": return ExactDecimal(kind: .nan)
            case "infinity", "inf": return ExactDecimal(kind: negative ? .negativeInfinity : .positiveInfinity)
            default: return nil
            }
        }
        var mantissa = [UInt8]()
        mantissa.reserveCapacity(body.count)
        var fractionDigits = 0
        var seenPoint = false
        var seenDigit = false
        var exponent = 0
        var idx = body.startIndex
        while idx != body.endIndex {
            let c = body[idx]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                if !mantissa.isEmpty || c != UInt8(ascii: "0") { mantissa.append(c) }
                seenDigit = true
                if seenPoint { fractionDigits += 1 }
            } else if c == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                let rest = body[body.index(after: idx)...]
                guard rest.count <= 11, let e = Int(String(decoding: rest, as: UTF8.self)), abs(e) <= ExactDecimal.maxExponent else { return nil }
                exponent = e
                break
            } else {
                return nil
            }
            idx = body.index(after: idx)
        }
        guard seenDigit else { return nil }
        var e = exponent - fractionDigits
        while mantissa.last == UInt8(ascii: "0") { mantissa.removeLast(); e += 1 }
        let value = mantissa.isEmpty ? ExactDecimal(negative: false, digits: "0", exponent: 0)
            : ExactDecimal(negative: negative, digits: String(decoding: mantissa, as: UTF8.self), exponent: e)
        // The scientific form prints the adjusted exponent: keep it parseable (round trip).
        if abs(value.exponent + value.digits.utf8.count - 1) > ExactDecimal.maxExponent { return nil }
        return value
    }

    private init(kind: Kind) {
        self.kind = kind
        self.negative = false
        self.digits = "0"
        self.exponent = 0
    }

    /// A finite value from digits already normalised (no leading or trailing zeros, or "0").
    private init(negative: Bool, digits: String, exponent: Int) {
        self.kind = .finite
        self.negative = negative
        self.digits = digits
        self.exponent = exponent
    }

    public var isZero: Bool { kind == .finite && digits == "0" }

    /// A finite number's sign, significant digits (ASCII, without leading or trailing zeros;
    /// "0" for zero) and exponent: value = ±digits × 10^exponent. nil for NaN and the infinities.
    public var finiteParts: (negative: Bool, digits: String, exponent: Int)? {
        kind == .finite ? (negative, digits, exponent) : nil
    }

    /// Plain notation (`-0.001`, `1200`); scientific (`1E+60`) only past 40 zeros of padding.
    public var description: String {
        switch kind {
        case .nan: return "NaN"
        case .positiveInfinity: return "Infinity"
        case .negativeInfinity: return "-Infinity"
        case .finite: break
        }
        if exponent == 0 { return negative ? "-" + digits : digits }
        var out = [UInt8]()
        out.reserveCapacity(digits.utf8.count + abs(exponent) + 3)
        appendDescription(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the UTF-8 bytes of ``description`` to `out`, without making the string.
    public func appendDescription(to out: inout [UInt8]) {
        guard kind == .finite else {
            out += description.utf8
            return
        }
        if negative { out.append(UInt8(ascii: "-")) }
        var digits = self.digits
        digits.withUTF8 { digits in
            let count = digits.count
            if exponent > 40 || (exponent < 0 && -(count + exponent) > 40) {
                out += scientific().utf8
            } else if exponent >= 0 {
                out.append(contentsOf: digits)
                for _ in 0..<exponent { out.append(UInt8(ascii: "0")) }
            } else {
                let point = count + exponent
                if point > 0 {
                    out.append(contentsOf: digits[..<point])
                    out.append(UInt8(ascii: "."))
                    out.append(contentsOf: digits[point...])
                } else {
                    out += "0.".utf8
                    for _ in 0..<(-point) { out.append(UInt8(ascii: "0")) }
                    out.append(contentsOf: digits)
                }
            }
        }
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
