import DeltaCore

/// Encodes values as fields of `COPY … (FORMAT binary)`: a 4-byte big-endian length (-1 for
/// NULL) and the type's binary send format, for the scalar types whose binary form is simple and
/// fixed (integers, floats, bool, text types, bytea, uuid, timestamps, json, jsonb, numeric).
/// Binary fields spare the server the parsing of text (about a third of a COPY's work).
///
/// Invariant: a value is accepted exactly when ``PostgresColumnType/literal(for:)`` accepts it,
/// and refused with the same message; what it writes is what the server would store for that
/// literal. A value outside the fast paths is encoded from its literal.
public enum PostgresBinaryField {
    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
    static let epochOffset: Int64 = 946_684_800_000_000

    /// Whether columns of this type are written in binary.
    public static func supports(_ type: PostgresColumnType) -> Bool {
        guard case let .mapped(oid) = type.kind else { return false }
        typealias T = PostgresTypeOID
        switch oid {
        case T.int2, T.int4, T.int8, T.float4, T.float8, T.bool, T.text, T.varchar, T.bpchar, T.name,
             T.bytea, T.uuid, T.timestamp, T.timestamptz, T.json, T.jsonb, T.numeric:
            return true
        default:
            return false
        }
    }

    /// Appends the field of `value` for a column of `type` (one ``supports(_:)`` accepts).
    public static func append(_ value: Value, _ type: PostgresColumnType, to out: inout [UInt8]) throws(PgValueMappingError) {
        guard case let .mapped(oid) = type.kind else {
            throw PgValueMappingError("type \(type.displayName) is not written in binary")
        }
        typealias T = PostgresTypeOID
        switch (oid, value) {
        case (_, .null):
            appendInt32(-1, &out)
        case let (T.int8, .int(i)):
            appendInt32(8, &out)
            appendInt64(i, &out)
        case let (T.int4, .int(i)) where Int64(Int32.min)...Int64(Int32.max) ~= i:
            appendInt32(4, &out)
            appendInt32(Int32(i), &out)
        case let (T.int2, .int(i)) where Int64(Int16.min)...Int64(Int16.max) ~= i:
            appendInt32(2, &out)
            appendUInt16(UInt16(bitPattern: Int16(i)), &out)
        case let (T.float8, .double(d)):
            appendInt32(8, &out)
            appendInt64(Int64(bitPattern: d.bitPattern), &out)
        case let (T.bool, .bool(b)):
            appendInt32(1, &out)
            out.append(b ? 1 : 0)
        case let (T.bytea, .bytes(b)):
            appendInt32(Int32(b.count), &out)
            out.append(contentsOf: b)
        case let (T.text, .string(s)) where !s.utf8.contains(0):
            appendText(s, &out)
        case (T.json, _), (T.jsonb, _):
            // Written straight into the field: a length, jsonb's version byte, the JSON text.
            let start = out.count
            appendInt32(0, &out)
            if oid == T.jsonb { out.append(1) }
            do {
                try JSONCodec.serialize(value, rejectingNUL: oid == T.jsonb, appendingTo: &out)
            } catch {
                out.removeSubrange(start...)
                throw PgValueMappingError(error.message)
            }
            let length = UInt32(out.count - start - 4).bigEndian
            withUnsafeBytes(of: length) { for i in 0..<4 { out[start + i] = $0[i] } }
        case let (T.numeric, .decimal(d)):
            if !appendDecimal(d, type.typeModifier, &out) { try appendViaLiteral(value, oid, type, &out) }
        case let (T.timestamp, .timestamp(t)), let (T.timestamptz, .timestamp(t)):
            guard t == Int64.min || t == Int64.max || t >= PostgresTimestamp.minimumMicros else {
                _ = try type.literal(for: value)
                throw PgValueMappingError("\(t) µs is out of range for type \(type.displayName)")
            }
            appendInt32(8, &out)
            appendInt64(t == Int64.min || t == Int64.max ? t : t &- epochOffset, &out)
        default:
            try appendViaLiteral(value, oid, type, &out)
        }
    }

    /// The field of `value` made from its literal (which also says why a value does not fit).
    private static func appendViaLiteral(_ value: Value, _ oid: UInt32, _ type: PostgresColumnType, _ out: inout [UInt8]) throws(PgValueMappingError) {
        guard let text = try type.literal(for: value) else {
            appendInt32(-1, &out)
            return
        }
        try appendFromLiteral(text, oid, type, &out)
    }

    /// The field of a literal ``PostgresColumnType/literal(for:)`` made (valid for the type).
    private static func appendFromLiteral(_ text: String, _ oid: UInt32, _ type: PostgresColumnType, _ out: inout [UInt8]) throws(PgValueMappingError) {
        typealias T = PostgresTypeOID
        func outOfRange() -> PgValueMappingError { PgValueMappingError("\(text) is out of range for type \(type.displayName)") }
        switch oid {
        case T.int2, T.int4, T.int8:
            guard let n = Int64(text) else { throw outOfRange() }
            switch oid {
            case T.int2:
                guard let v = Int16(exactly: n) else { throw outOfRange() }
                appendInt32(2, &out)
                appendUInt16(UInt16(bitPattern: v), &out)
            case T.int4:
                guard let v = Int32(exactly: n) else { throw outOfRange() }
                appendInt32(4, &out)
                appendInt32(v, &out)
            default:
                appendInt32(8, &out)
                appendInt64(n, &out)
            }
        case T.float8:
            guard let d = float(text, Double.self) else { throw outOfRange() }
            appendInt32(8, &out)
            appendInt64(Int64(bitPattern: d.bitPattern), &out)
        case T.float4:
            // Rounded from the decimal text, as the server's float4in does (not through a double).
            guard let f = float(text, Float.self) else { throw outOfRange() }
            appendInt32(4, &out)
            appendInt32(Int32(bitPattern: f.bitPattern), &out)
        case T.bool:
            switch text.lowercased() {
            case "t", "true", "1", "yes", "on", "y": appendInt32(1, &out); out.append(1)
            case "f", "false", "0", "no", "off", "n": appendInt32(1, &out); out.append(0)
            default: throw PgValueMappingError("\(text) is not a boolean")
            }
        case T.text, T.varchar, T.bpchar, T.name, T.json:
            appendText(text, &out)
        case T.jsonb:
            appendInt32(Int32(text.utf8.count + 1), &out)
            out.append(1)
            out.append(contentsOf: text.utf8)
        case T.bytea:
            guard let bytes = PostgresValueMapping.decodeBytea(text) else { throw PgValueMappingError("\(text) is not bytea text") }
            appendInt32(Int32(bytes.count), &out)
            out.append(contentsOf: bytes)
        case T.uuid:
            guard let bytes = PostgresValueMapping.decodeBytea("\\x" + String(text.filter { $0 != "-" })), bytes.count == 16 else {
                throw PgValueMappingError("\(text) is not a UUID")
            }
            appendInt32(16, &out)
            out.append(contentsOf: bytes)
        case T.timestamp, T.timestamptz:
            guard let t = PostgresTimestamp.parse(text) else { throw PgValueMappingError("\(text) is not a timestamp") }
            appendInt32(8, &out)
            appendInt64(t == Int64.min || t == Int64.max ? t : t &- epochOffset, &out)
        case T.numeric:
            guard appendNumeric(text, &out) else { throw outOfRange() }
        default:
            throw PgValueMappingError("type \(type.displayName) is not written in binary")
        }
    }

    /// Appends `numeric`'s send format of a number's text (`-12.340`, `1E+5`, `NaN`, `Infinity`).
    /// False for text that is no number or lies beyond numeric's range.
    static func appendNumeric(_ text: String, _ out: inout [UInt8]) -> Bool {
        switch text {
        case "NaN": numericHeader(0, 0, 0xC000, 0, &out); return true
        case "Infinity", "+Infinity": numericHeader(0, 0, 0xD000, 0, &out); return true
        case "-Infinity": numericHeader(0, 0, 0xF000, 0, &out); return true
        default: break
        }
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(bytes.count)
        var fraction = 0
        var seenPoint = false
        var exponent = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let c = bytes[index]
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                digits.append(c)
                if seenPoint { fraction += 1 }
            } else if c == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                guard let e = Int(String(decoding: bytes[bytes.index(after: index)...], as: UTF8.self)) else { return false }
                exponent = e
                break
            } else {
                return false
            }
            index = bytes.index(after: index)
        }
        guard !digits.isEmpty, abs(exponent) < 1_000_000 else { return false }
        return appendNumeric(negative: negative, digits: digits, integerDigits: digits.count - fraction + exponent,
                             dscale: max(0, fraction - exponent), &out)
    }

    /// Appends `numeric`'s send format of ±digits (ASCII) with the point after `integerDigits` of
    /// them (negative: zeros in front): base-10000 digits with weight, sign and display scale.
    static func appendNumeric(negative: Bool, digits: some BidirectionalCollection<UInt8>, integerDigits: Int, dscale: Int,
                              _ out: inout [UInt8]) -> Bool {
        var integerDigits = integerDigits
        var first = digits.startIndex
        while first < digits.endIndex, digits[first] == UInt8(ascii: "0") {
            first = digits.index(after: first)
            integerDigits -= 1
        }
        var last = digits.endIndex
        while last > first, digits[digits.index(before: last)] == UInt8(ascii: "0") { last = digits.index(before: last) }
        guard dscale <= 0x3FFF else { return false }
        if first == last {
            numericHeader(0, 0, 0, dscale, &out)
            return true
        }
        // Align the point to a group of four: pad the front, then group from there.
        let pad = ((4 - integerDigits % 4) % 4 + 4) % 4
        let weight = (integerDigits + pad) / 4 - 1
        let significant = digits.distance(from: first, to: last)
        let ndigits = (pad + significant + 3) / 4
        guard weight <= 0x7FFF, weight >= -0x7FFF, ndigits <= 0x7FFF else { return false }
        numericHeader(ndigits, weight, negative ? 0x4000 : 0, dscale, &out)
        var group = 0
        var filled = pad
        for c in digits[first..<last] {
            group = group * 10 + Int(c &- UInt8(ascii: "0"))
            filled += 1
            if filled == 4 {
                appendUInt16(UInt16(group), &out)
                group = 0
                filled = 0
            }
        }
        if filled > 0 {
            for _ in filled..<4 { group *= 10 }
            appendUInt16(UInt16(group), &out)
        }
        return true
    }

    private static func numericHeader(_ ndigits: Int, _ weight: Int, _ sign: UInt16, _ dscale: Int, _ out: inout [UInt8]) {
        appendInt32(Int32(8 + 2 * ndigits), &out)
        appendUInt16(UInt16(ndigits), &out)
        appendUInt16(UInt16(bitPattern: Int16(weight)), &out)
        appendUInt16(sign, &out)
        appendUInt16(UInt16(dscale), &out)
    }

    /// The numeric field of an exact decimal, when it fits the column's precision (nil: let
    /// the literal say why not).
    private static func appendDecimal(_ d: ExactDecimal, _ typeModifier: Int32, _ out: inout [UInt8]) -> Bool {
        guard let (negative, digits, exponent) = d.finiteParts, abs(exponent) < 1_000_000 else { return false }
        let integerDigits = digits.utf8.count + exponent
        if typeModifier >= 4 {
            let packed = Int(typeModifier) - 4
            var scale = packed & 0x7FF
            if scale & 0x400 != 0 { scale -= 0x800 }
            if digits != "0", integerDigits > (packed >> 16 & 0xFFFF) - scale { return false }
        }
        return appendNumeric(negative: negative, digits: digits.utf8, integerDigits: integerDigits, dscale: max(0, -exponent), &out)
    }

    /// A float literal's value (`NaN`, `Infinity`, `-Infinity` or a decimal number); nil when it
    /// overflows or underflows the type, which the server refuses as out of range.
    private static func float<F: BinaryFloatingPoint & LosslessStringConvertible>(_ text: String, _: F.Type) -> F? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let parsed = F(text), parsed.isFinite, parsed != 0 || isZero(text) else { return nil }
            return parsed
        }
    }

    /// Whether a number's text has no nonzero digit before its exponent (an underflow to zero
    /// is out of range, as the server says).
    private static func isZero(_ text: String) -> Bool {
        for c in text.utf8 {
            if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { break }
            if c >= UInt8(ascii: "1"), c <= UInt8(ascii: "9") { return false }
        }
        return true
    }

    private static func appendText(_ s: String, _ out: inout [UInt8]) {
        let count = s.utf8.count
        appendInt32(Int32(count), &out)
        out.append(contentsOf: s.utf8)
    }

    static func appendInt32(_ v: Int32, _ out: inout [UInt8]) {
        let u = UInt32(bitPattern: v)
        out.append(UInt8(truncatingIfNeeded: u >> 24))
        out.append(UInt8(truncatingIfNeeded: u >> 16))
        out.append(UInt8(truncatingIfNeeded: u >> 8))
        out.append(UInt8(truncatingIfNeeded: u))
    }

    static func appendUInt16(_ v: UInt16, _ out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    static func appendInt64(_ v: Int64, _ out: inout [UInt8]) {
        appendInt32(Int32(truncatingIfNeeded: v >> 32), &out)
        appendInt32(Int32(truncatingIfNeeded: v), &out)
    }
}
