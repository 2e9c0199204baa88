import DeltaCore
import SQLiteSupport

/// A value the SQLite connector cannot store, with the reason (without table and column, which
/// the caller adds).
struct UnstorableValue: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// Conversions between ``Value`` and SQLite's storage classes, and the typed encoding used by
/// change-log row images and snapshot cursors.
///
/// Reading: INTEGER → `.int`, REAL → `.double`, TEXT → `.string` (JSON columns: the parsed JSON,
/// or `.string` when the text is not JSON), BLOB → `.bytes`, NULL → `.null`.
/// Writing: `.int`/`.double`/`.string`/`.bytes`/`.null` natively, `.bool` → 0/1, `.decimal` → TEXT
/// of its description, `.timestamp` → ISO 8601 TEXT, `.array`/`.object` → JSON TEXT. In a JSON column
/// strings, bools, decimals and timestamps are written as JSON text, so that reading gives the
/// value back. Invariant for JSON columns: `value(binding(v)) == v` for every JSON-representable `v`.
enum SQLiteValueMapping {
    typealias Binding = SQLiteStatement.Binding

    // MARK: Store → Value

    static func value(_ stored: Binding, json: Bool) -> Value {
        switch stored {
        case .null: return .null
        case let .int(i): return .int(i)
        case let .double(d): return .double(d)
        case let .blob(b): return .bytes(b)
        case let .text(s):
            guard json else { return .string(s) }
            return (try? JSONCodec.parse(s)) ?? .string(s)
        }
    }

    /// A whole row read with `SELECT *`-like statements: column name → value.
    static func row(_ statement: SQLiteStatement, jsonColumns: Set<String>) -> [String: Value] {
        var out: [String: Value] = [:]
        for i in 0..<statement.columnCount {
            let name = statement.columnName(i)
            out[name] = value(statement.value(i), json: jsonColumns.contains(name))
        }
        return out
    }

    // MARK: Value → store

    /// The binding that stores `value`, or why SQLite cannot hold it.
    static func binding(_ value: Value, json: Bool) throws(UnstorableValue) -> Binding {
        switch value {
        case .null: return .null
        case let .bool(b): return json ? .text(b ? "true" : "false") : .int(b ? 1 : 0)
        case let .int(i): return .int(i)
        case let .double(d):
            guard !d.isNaN else { throw UnstorableValue(reason: "a double NaN (SQLite stores NaN as NULL)") }
            return .double(d)
        case let .decimal(d):
            guard json else { return .text(d.description) }
            return .text(try serialized(value, what: "decimal"))
        case let .string(s):
            guard !s.utf8.contains(0) else {
                throw UnstorableValue(reason: "a string with a NUL character (not storable as SQLite TEXT by this connector)")
            }
            guard json else { return .text(s) }
            var quoted = ""
            JSONText.quote(s, into: &quoted)
            return .text(quoted)
        case let .bytes(b): return .blob(b)
        case let .timestamp(t):
            let iso = Timestamps.iso8601(micros: t)
            guard json else { return .text(iso) }
            var quoted = ""
            JSONText.quote(iso, into: &quoted)
            return .text(quoted)
        case .array: return .text(try serialized(value, what: "array"))
        case .object: return .text(try serialized(value, what: "object"))
        }
    }

    private static func serialized(_ value: Value, what: String) throws(UnstorableValue) -> String {
        do {
            return try JSONCodec.serialize(value)
        } catch {
            throw UnstorableValue(reason: "a JSON \(what) with a value JSON cannot hold (\(error.message))")
        }
    }

    // MARK: Typed encoding (change-log images, cursors)

    /// Decodes a change-log row image `{"column": [typeof, value], ...}` (see ``SQLiteChangeLog``).
    static func decodeImage(_ text: String, jsonColumns: Set<String>) -> [String: Value]? {
        guard case let .object(members)? = try? JSONCodec.parse(text) else { return nil }
        var out: [String: Value] = [:]
        for (name, pair) in members {
            guard let stored = decodeTyped(pair) else { return nil }
            out[name] = value(stored, json: jsonColumns.contains(name))
        }
        return out
    }

    /// One `[typeof, value]` pair: `["integer", 5]`, `["real", "1.5e+00"]`, `["text", "a"]`,
    /// `["blob", "0AFF"]`, `["null", null]`.
    static func decodeTyped(_ pair: Value) -> Binding? {
        guard case let .array(parts) = pair, parts.count == 2, case let .string(type) = parts[0] else { return nil }
        switch (type, parts[1]) {
        case ("null", _): return .null
        case let ("integer", .int(i)): return .int(i)
        case let ("real", .string(s)): return parseReal(s).map { .double($0) }
        case let ("real", .double(d)): return .double(d)
        case let ("real", .int(i)): return .double(Double(i))
        case let ("text", .string(s)): return .text(s)
        case let ("blob", .string(h)): return hexDecode(h).map { .blob($0) }
        default: return nil
        }
    }

    /// The `[typeof, value]` pair of a stored value, reals as round-trip decimal text.
    static func encodeTyped(_ stored: Binding) -> Value {
        switch stored {
        case .null: return .array([.string("null"), .null])
        case let .int(i): return .array([.string("integer"), .int(i)])
        case let .double(d): return .array([.string("real"), .string(d.isFinite ? "\(d)" : (d < 0 ? "-Inf" : "Inf"))])
        case let .text(s): return .array([.string("text"), .string(s)])
        case let .blob(b): return .array([.string("blob"), .string(hexEncode(b))])
        }
    }

    /// Text as SQLite's `printf('%!.20e')` or Swift prints a double, including `Inf`/`-Inf`.
    static func parseReal(_ text: String) -> Double? {
        switch text {
        case "Inf", "+Inf", "inf", "Infinity": return .infinity
        case "-Inf", "-inf", "-Infinity": return -.infinity
        default: return Double(text)
        }
    }

    /// A snapshot cursor: the last key values read, as JSON of typed pairs.
    static func encodeCursor(_ keys: [Binding]) -> String {
        (try? JSONCodec.serialize(.array(keys.map(encodeTyped)))) ?? "[]"
    }

    static func decodeCursor(_ text: String) -> [Binding]? {
        guard case let .array(parts)? = try? JSONCodec.parse(text) else { return nil }
        var out: [Binding] = []
        for part in parts {
            guard let b = decodeTyped(part) else { return nil }
            out.append(b)
        }
        return out
    }

    static func hexEncode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexDecode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
