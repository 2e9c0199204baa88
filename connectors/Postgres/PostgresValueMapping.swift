import DeltaCore

/// Converts between PostgreSQL's text format and DeltaCore `Value`s by type OID: decoding what pgoutput sends,
/// and encoding values as text-format parameters for a sink. Invariant: decoding never fails (unmapped or
/// unparsable text comes back as a flagged fallback string), and `decode(literal(v)) == v` for mapped types.
public enum PostgresValueMapping {
    // MARK: Decoding

    /// The value of one column's text. None of the mapped types needs the type modifier to decode.
    ///
    /// For the source author: the text formats assumed are those of a session with `DateStyle = ISO`,
    /// `IntervalStyle = postgres`, `bytea_output = hex` (the default) and `TimeZone = UTC`. Set them on the
    /// replication connection (startup parameters, or `options=-c TimeZone=UTC -c DateStyle=ISO`), because the
    /// walsender formats `timestamptz` in its own TimeZone (offsets such as `+05:30` or `+05:21:10` still parse
    /// to the right instant, but other DateStyles do not parse and fall back to strings).
    ///
    /// Choices: `timestamp` without time zone is read as UTC; `date`, `time`, `timetz` and `interval` stay
    /// strings in the server's text (`2024-02-29`, `0044-03-15 BC`, `13:45:56.5+05:30`, `1 year 2 mons`)
    /// because other stores have no exact equivalent and a date as midnight UTC would shift in other zones;
    /// `bpchar` keeps its padding; `float4` is read from its shortest text as a double (`1.5`, `3.14` stay so);
    /// `numeric` loses its display scale (`1234.500` is 1234.5); timestamps `infinity` / `-infinity` are
    /// `Int64.max` / `Int64.min`, and those past 294247 AD (beyond Int64 µs) fall back to strings.
    public static func decode(_ text: String, typeOID: UInt32) -> PgDecodedValue {
        if let element = PostgresTypeOID.element(ofArray: typeOID) {
            return decodeArray(text, elementOID: element)
        }
        if let value = decodeScalar(text, typeOID) { return PgDecodedValue(value) }
        return PgDecodedValue(.string(text), isFallback: true)
    }

    /// An array's text as `.array` of element values (nested for multi-dimensional arrays). Use it directly
    /// for arrays of types that are not mapped (e.g. `mood[]` after looking up its element type): elements of an
    /// unmapped type become strings and the result is flagged as a fallback. A text that is not an array
    /// literal comes back as a fallback string.
    public static func decodeArray(_ text: String, elementOID: UInt32) -> PgDecodedValue {
        guard let elements = try? PostgresArrayLiteral.parse(text) else {
            return PgDecodedValue(.string(text), isFallback: true)
        }
        var fallback = false
        func convert(_ elements: [PostgresArrayLiteral.Element]) -> Value {
            .array(elements.map { element in
                switch element {
                case .null: return .null
                case let .array(inner): return convert(inner)
                case let .text(t):
                    if let v = decodeScalar(t, elementOID) { return v }
                    fallback = true
                    return .string(t)
                }
            })
        }
        let value = convert(elements)
        return fallback && PostgresTypeOID.isKnown(elementOID) ? PgDecodedValue(.string(text), isFallback: true)
                                                                 : PgDecodedValue(value, isFallback: fallback)
    }

    /// The value of a mapped scalar type's text given as UTF-8 bytes, for the types whose text
    /// parses without making a string first: exactly what ``decode(_:typeOID:)`` gives for
    /// them. nil means "decode the text as a string" (other types, and texts these fast paths
    /// leave to the general parsers, such as `+5`).
    static func decodeWithoutString(_ bytes: UnsafeBufferPointer<UInt8>, typeOID oid: UInt32) -> Value? {
        typealias T = PostgresTypeOID
        switch oid {
        case T.int2, T.int4, T.int8, T.oid:
            return plainInteger(bytes).map(Value.int)
        case T.numeric:
            return ExactDecimal(utf8: bytes).map(Value.decimal)
        case T.timestamp, T.timestamptz:
            return PostgresTimestamp.parse(bytes: bytes).map(Value.timestamp)
        case T.json, T.jsonb:
            return try? JSONCodec.parse(bytes: Array(bytes))
        case T.bool:
            guard bytes.count == 1 else { return nil }
            return bytes[0] == UInt8(ascii: "t") ? .bool(true) : (bytes[0] == UInt8(ascii: "f") ? .bool(false) : nil)
        default:
            return nil
        }
    }

    /// `-?[0-9]{1,18}`, the integers PostgreSQL prints (longer ones are left to `Int64(_:)`).
    private static func plainInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { i = 1 }
        let digits = bytes.count - i
        guard digits > 0, digits <= 18 else { return nil }
        var n: Int64 = 0
        while i < bytes.count {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            n = n &* 10 &+ Int64(d)
            i += 1
        }
        return negative ? -n : n
    }

    private static func decodeScalar(_ text: String, _ oid: UInt32) -> Value? {
        typealias T = PostgresTypeOID
        switch oid {
        case T.int2, T.int4, T.int8, T.oid:
            return Int64(text).map(Value.int)
        case T.numeric:
            return ExactDecimal(text).map(Value.decimal)
        case T.float4, T.float8:
            return parseFloat(text).map(Value.double)
        case T.bool:
            return text == "t" ? .bool(true) : (text == "f" ? .bool(false) : nil)
        case T.text, T.varchar, T.bpchar, T.name, T.char, T.date, T.time, T.timetz, T.interval:
            return .string(text)
        case T.bytea:
            return decodeBytea(text).map(Value.bytes)
        case T.uuid:
            return text.utf8.count == 36 ? .string(text.lowercased()) : nil
        case T.timestamp, T.timestamptz:
            return PostgresTimestamp.parse(text).map(Value.timestamp)
        case T.json, T.jsonb:
            return try? JSONCodec.parse(text)
        default:
            return nil
        }
    }

    private static func parseFloat(_ text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let first = text.utf8.first, first == UInt8(ascii: "-") || (first >= 48 && first <= 57) else { return nil }
            return Double(text)
        }
    }

    /// `bytea` in hex (`\x00ff`) or the older escape format (`\000\377`, `\\`).
    static func decodeBytea(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        if b.count >= 2, b[0] == UInt8(ascii: "\\"), b[1] == UInt8(ascii: "x") {
            guard b.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(b.count / 2 - 1)
            var i = 2
            while i < b.count {
                guard let hi = hexValue(b[i]), let lo = hexValue(b[i + 1]) else { return nil }
                out.append(hi << 4 | lo)
                i += 2
            }
            return out
        }
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] != UInt8(ascii: "\\") { out.append(b[i]); i += 1; continue }
            if i + 1 < b.count, b[i + 1] == UInt8(ascii: "\\") { out.append(0x5C); i += 2; continue }
            guard i + 3 < b.count else { return nil }
            var v = 0
            for k in 1...3 {
                let c = b[i + k]
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "7") else { return nil }
                v = v * 8 + Int(c - UInt8(ascii: "0"))
            }
            guard v <= 255 else { return nil }
            out.append(UInt8(v))
            i += 4
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    // MARK: Encoding

    /// The text-format parameter for `value` in a column of `typeOID` (and `typeModifier`, the column's
    /// `atttypmod`, -1 when none); nil means SQL NULL. Throws when the column cannot hold the value.
    ///
    /// Accepted: integers from `.int` and integral `.double`/`.decimal` in range; `numeric` and floats from
    /// any number; `bool` from `.bool`; character types, `date`, `time`, `timetz`, `interval` from strings
    /// (`date` also from a `.timestamp` at midnight UTC); `bytea` from `.bytes`; `uuid` from a UUID string or 16
    /// bytes; timestamps from `.timestamp` or an ISO string; `json`/`jsonb` from anything (see
    /// ``PostgresJSON/serialize(_:forJSONB:)``); mapped arrays from `.array`; types that are not mapped (enums,
    /// domains, `inet`, ...) from strings and scalars, which the server then casts. The check is done here as
    /// far as the type allows; the server may still reject e.g. a malformed interval string.
    public static func literal(for value: Value, typeOID: UInt32, typeModifier: Int32 = -1) throws(PgValueMappingError) -> String? {
        if case .null = value { return nil }
        typealias T = PostgresTypeOID
        switch typeOID {
        case T.int2: return try integer(value, typeOID, Int64(Int16.min)...Int64(Int16.max))
        case T.int4: return try integer(value, typeOID, Int64(Int32.min)...Int64(Int32.max))
        case T.int8: return try integer(value, typeOID, Int64.min...Int64.max)
        case T.oid: return try integer(value, typeOID, 0...Int64(UInt32.max))
        case T.numeric: return try numeric(value, typeModifier)
        case T.float4, T.float8: return try float(value, typeOID)
        case T.bool:
            guard case let .bool(b) = value else { throw mismatch(value, typeOID) }
            return b ? "t" : "f"
        case T.text, T.varchar, T.bpchar, T.name, T.char:
            guard case let .string(s) = value else { throw mismatch(value, typeOID) }
            return try character(s, typeOID, typeModifier)
        case T.time, T.timetz, T.interval:
            guard case let .string(s) = value else { throw mismatch(value, typeOID) }
            return try noNUL(s, typeOID)
        case T.date:
            switch value {
            case let .string(s): return try noNUL(s, typeOID)
            case let .timestamp(t) where t % 86_400_000_000 == 0 && t != Int64.min: return PostgresTimestamp.formatDate(t)
            case .timestamp: throw PgValueMappingError("a timestamp with a time of day cannot be stored in a date column")
            default: throw mismatch(value, typeOID)
            }
        case T.bytea:
            guard case let .bytes(b) = value else { throw mismatch(value, typeOID) }
            return "\\x" + hex(b)
        case T.uuid: return try uuid(value)
        case T.timestamp, T.timestamptz: return try timestamp(value, typeOID)
        case T.json, T.jsonb:
            do {
                return try JSONCodec.serialize(value, rejectingNUL: typeOID == T.jsonb)
            } catch {
                throw PgValueMappingError(error.message)
            }
        default:
            if let element = T.element(ofArray: typeOID) {
                return try arrayLiteral(for: value, elementOID: element, typeModifier: typeModifier)
            }
            return try unmapped(value, typeOID)
        }
    }

    /// Why a column of `typeOID` cannot hold `value`, as one line; nil when ``literal(for:typeOID:typeModifier:)``
    /// accepts it.
    public static func cannotHold(_ value: Value, typeOID: UInt32, typeModifier: Int32 = -1) -> String? {
        do {
            _ = try literal(for: value, typeOID: typeOID, typeModifier: typeModifier)
            return nil
        } catch {
            return error.reason
        }
    }

    /// An array literal for `.array` values whose elements have type `elementOID` (mapped or not), e.g. for
    /// an enum array after looking up its element type. Sub-arrays make a multi-dimensional array and must be
    /// rectangular.
    public static func arrayLiteral(for value: Value, elementOID: UInt32, typeModifier: Int32 = -1) throws(PgValueMappingError) -> String {
        guard case let .array(items) = value else {
            throw PgValueMappingError("\(article(value)) cannot be stored in a column of type \(displayName(elementOID))[]")
        }
        func build(_ items: [Value]) throws(PgValueMappingError) -> [PostgresArrayLiteral.Element] {
            let nested = items.filter { if case .array = $0 { return true } else { return false } }.count
            guard nested == 0 || nested == items.count else {
                throw PgValueMappingError("an array mixing sub-arrays and elements cannot be stored in a column of type \(displayName(elementOID))[]")
            }
            var out: [PostgresArrayLiteral.Element] = []
            for item in items {
                if case let .array(inner) = item {
                    out.append(.array(try build(inner)))
                } else if let text = try literal(for: item, typeOID: elementOID, typeModifier: typeModifier) {
                    out.append(.text(text))
                } else {
                    out.append(.null)
                }
            }
            return out
        }
        let elements = try build(items)
        guard let dimensions = shape(elements) else {
            throw PgValueMappingError("a ragged multi-dimensional array cannot be stored in a column of type \(displayName(elementOID))[]")
        }
        guard dimensions.count == 1 || !dimensions.contains(0) else {
            throw PgValueMappingError("an array with empty sub-arrays cannot be stored in a column of type \(displayName(elementOID))[]")
        }
        return PostgresArrayLiteral.format(elements)
    }

    /// The length of each dimension, or nil when sub-arrays differ in shape.
    private static func shape(_ elements: [PostgresArrayLiteral.Element]) -> [Int]? {
        guard case let .array(first)? = elements.first else { return [elements.count] }
        guard let inner = shape(first) else { return nil }
        for element in elements {
            guard case let .array(sub) = element, shape(sub) == inner else { return nil }
        }
        return [elements.count] + inner
    }

    private static func article(_ value: Value) -> String {
        switch value {
        case .null: "null"
        case .bool: "a bool"
        case .int: "an int"
        case .double: "a double"
        case .decimal: "a decimal"
        case .string: "a string"
        case .bytes: "bytes"
        case .timestamp: "a timestamp"
        case .array: "an array"
        case .object: "an object"
        }
    }

    private static func displayName(_ oid: UInt32) -> String {
        if let element = PostgresTypeOID.element(ofArray: oid) { return PostgresTypeOID.name(of: element) + "[]" }
        return PostgresTypeOID.isKnown(oid) ? PostgresTypeOID.name(of: oid) : "type-\(oid)"
    }

    private static func mismatch(_ value: Value, _ oid: UInt32) -> PgValueMappingError {
        PgValueMappingError("\(article(value)) cannot be stored in a column of type \(displayName(oid))")
    }

    private static func integer(_ value: Value, _ oid: UInt32, _ range: ClosedRange<Int64>) throws(PgValueMappingError) -> String {
        let n: Int64
        switch value {
        case let .int(i): n = i
        case let .double(d):
            guard let i = Int64(exactly: d) else {
                throw PgValueMappingError("the double \(d) is not an integer in range for type \(displayName(oid))")
            }
            n = i
        case let .decimal(d):
            guard let i = Int64(d.description) else {
                throw PgValueMappingError("the decimal \(d) is not an integer in range for type \(displayName(oid))")
            }
            n = i
        default: throw mismatch(value, oid)
        }
        guard range.contains(n) else { throw PgValueMappingError("\(n) is out of range for type \(displayName(oid))") }
        return String(n)
    }

    private static func numericText(_ value: Value) -> String? {
        switch value {
        case let .int(i): return String(i)
        case let .decimal(d): return d.description
        case let .double(d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return "\(d)"
        default: return nil
        }
    }

    private static func numeric(_ value: Value, _ typeModifier: Int32) throws(PgValueMappingError) -> String {
        guard let text = numericText(value) else { throw mismatch(value, PostgresTypeOID.numeric) }
        guard typeModifier >= 4 else { return text }
        let packed = Int(typeModifier) - 4
        let precision = packed >> 16 & 0xFFFF
        var scale = packed & 0x7FF
        if scale & 0x400 != 0 { scale -= 0x800 }
        if text.hasSuffix("Infinity") {
            throw PgValueMappingError("\(text) cannot be stored in a numeric(\(precision),\(scale)) column")
        }
        if text != "NaN", integerDigits(text) > precision - scale {
            throw PgValueMappingError("\(text) has too many integer digits for a numeric(\(precision),\(scale)) column")
        }
        return text
    }

    /// Digits before the decimal point of a plain or scientific number text (`0.5` has none).
    private static func integerDigits(_ text: String) -> Int {
        var t = Substring(text).utf8[...]
        if let sign = t.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { t = t.dropFirst() }
        var mantissa = t
        var exponent = 0
        if let e = t.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            mantissa = t[..<e]
            exponent = Int(String(decoding: t[t.index(after: e)...], as: UTF8.self)) ?? 0
        }
        let lead = mantissa.prefix { $0 != UInt8(ascii: ".") }.drop { $0 == UInt8(ascii: "0") }
        if lead.isEmpty { return 0 }
        return max(0, lead.count + exponent)
    }

    private static func float(_ value: Value, _ oid: UInt32) throws(PgValueMappingError) -> String {
        let d: Double
        switch value {
        case let .int(i): return String(i)
        case let .double(x): d = x
        case let .decimal(x):
            let text = x.description
            if text == "NaN" || text.hasSuffix("Infinity") { return text }
            guard let parsed = Double(text), parsed.isFinite, parsed != 0 || x.isZero else {
                throw PgValueMappingError("the decimal \(text) is out of range for type \(displayName(oid))")
            }
            d = parsed
        default: throw mismatch(value, oid)
        }
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if oid == PostgresTypeOID.float4, d != 0,
           d.magnitude > Double(Float.greatestFiniteMagnitude) || d.magnitude < Double(Float.leastNonzeroMagnitude) {
            throw PgValueMappingError("\(d) is out of range for a float4 column")
        }
        return "\(d)"
    }

    private static func noNUL(_ s: String, _ oid: UInt32) throws(PgValueMappingError) -> String {
        if s.utf8.contains(0) { throw PgValueMappingError("a string with a NUL character cannot be stored in a column of type \(displayName(oid))") }
        return s
    }

    private static func character(_ s: String, _ oid: UInt32, _ typeModifier: Int32) throws(PgValueMappingError) -> String {
        _ = try noNUL(s, oid)
        switch oid {
        case PostgresTypeOID.varchar, PostgresTypeOID.bpchar:
            guard typeModifier >= 4 else { return s }
            let limit = Int(typeModifier) - 4
            let scalars = Array(s.unicodeScalars)
            if scalars.count > limit, scalars[limit...].contains(where: { $0 != " " }) {
                let type = oid == PostgresTypeOID.varchar ? "varchar" : "char"
                throw PgValueMappingError("a string of \(scalars.count) characters is too long for a \(type)(\(limit)) column")
            }
        case PostgresTypeOID.name:
            if s.utf8.count > 63 { throw PgValueMappingError("a string of \(s.utf8.count) bytes is too long for a name column (63)") }
        case PostgresTypeOID.char:
            if s.utf8.count > 1 { throw PgValueMappingError("a string of \(s.utf8.count) bytes is too long for a \"char\" column (1)") }
        default:
            break
        }
        return s
    }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func uuid(_ value: Value) throws(PgValueMappingError) -> String {
        let raw: [UInt8]
        switch value {
        case let .bytes(b) where b.count == 16: raw = b
        case let .string(s):
            var t = Substring(s)
            if t.first == "{" && t.last == "}" { t = t.dropFirst().dropLast() }
            let digits = t.utf8.filter { $0 != UInt8(ascii: "-") }
            guard digits.count == 32, let bytes = decodeBytea("\\x" + String(decoding: digits, as: UTF8.self)) else {
                throw PgValueMappingError("the string \(quoteForMessage(s)) is not a UUID")
            }
            raw = bytes
        case .bytes: throw PgValueMappingError("bytes that are not 16 long cannot be stored in a uuid column")
        default: throw mismatch(value, PostgresTypeOID.uuid)
        }
        let h = Array(hex(raw).utf8)
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String(decoding: $0, as: UTF8.self) }.joined(separator: "-")
    }

    private static func timestamp(_ value: Value, _ oid: UInt32) throws(PgValueMappingError) -> String {
        let micros: Int64
        switch value {
        case let .timestamp(t): micros = t
        case let .string(s):
            guard let t = PostgresTimestamp.parse(s) else {
                throw PgValueMappingError("the string \(quoteForMessage(s)) is not a timestamp")
            }
            micros = t
        default: throw mismatch(value, oid)
        }
        if micros != Int64.min, micros < PostgresTimestamp.minimumMicros {
            throw PgValueMappingError("\(Timestamps.iso8601(micros: micros)) is before 4714 BC, out of range for type \(displayName(oid))")
        }
        return PostgresTimestamp.format(micros, withOffset: true)
    }

    private static func unmapped(_ value: Value, _ oid: UInt32) throws(PgValueMappingError) -> String {
        switch value {
        case let .string(s): return try noNUL(s, oid)
        case let .int(i): return String(i)
        case let .bool(b): return b ? "t" : "f"
        case .decimal, .double:
            guard let text = numericText(value) else { throw mismatch(value, oid) }
            return text
        case let .timestamp(t): return PostgresTimestamp.format(t, withOffset: true)
        default:
            throw PgValueMappingError("\(article(value)) cannot be stored in a column of unmapped type \(oid) (only strings and scalars)")
        }
    }

    private static func quoteForMessage(_ s: String) -> String {
        let short = s.unicodeScalars.count > 40 ? String(String.UnicodeScalarView(s.unicodeScalars.prefix(40))) + "…" : s
        var out = "'"
        for scalar in short.unicodeScalars {
            out += scalar.value < 0x20 ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }
        return out + "'"
    }
}
