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
        row(statement, RowLayout(statement, jsonColumns: jsonColumns))
    }

    /// The names of a result's columns and which hold JSON, worked out once for all its rows.
    struct RowLayout {
        let names: [String]
        let isJSON: [Bool]

        init(_ statement: SQLiteStatement, jsonColumns: Set<String>) {
            names = (0..<statement.columnCount).map { statement.columnName($0) }
            isJSON = names.map { jsonColumns.contains($0) }
        }
    }

    /// The current row of `statement`, whose columns `layout` describes.
    static func row(_ statement: SQLiteStatement, _ layout: RowLayout) -> [String: Value] {
        var out = [String: Value](minimumCapacity: layout.names.count)
        for i in layout.names.indices {
            out[layout.names[i]] = value(statement.value(Int32(i)), json: layout.isJSON[i])
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
        if let fast = scanImage(text) {
            var out = [String: Value](minimumCapacity: fast.count)
            for (name, stored) in fast { out[name] = value(stored, json: jsonColumns.contains(name)) }
            return out
        }
        return parseImage(text, jsonColumns: jsonColumns)
    }

    /// The usual image read without building a JSON tree (``ImageScanner``); nil when unusual.
    static func scanImage(_ text: String) -> [(String, Binding)]? {
        var copy = text
        return copy.withUTF8 { bytes in
            var scanner = ImageScanner(bytes: bytes)
            return scanner.scan()
        }
    }

    /// Any image, through the general JSON parser.
    static func parseImage(_ text: String, jsonColumns: Set<String>) -> [String: Value]? {
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

/// The change log's usual image, read straight from its bytes: `{"name":["type",value],...}` as
/// SQLite's `json_object` writes it, strings without escapes, integers in 64 bits. Anything else
/// (an escape, another spelling, a number that is not a plain integer) returns nil, and the caller
/// takes the general JSON parser, which reads every image; the two agree where both read.
struct ImageScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func scan() -> [(String, SQLiteStatement.Binding)]? {
        var out = [(String, SQLiteStatement.Binding)]()
        guard take(UInt8(ascii: "{")) else { return nil }
        if take(UInt8(ascii: "}")) { return i == bytes.count ? out : nil }
        repeat {
            guard let name = string(), take(UInt8(ascii: ":")), take(UInt8(ascii: "[")), let type = string(),
                  take(UInt8(ascii: ",")) else { return nil }
            let stored: SQLiteStatement.Binding
            switch type {
            case "integer":
                guard let n = integer() else { return nil }
                stored = .int(n)
            case "real":
                guard let t = string(), let d = SQLiteValueMapping.parseReal(t) else { return nil }
                stored = .double(d)
            case "text":
                guard let t = string() else { return nil }
                stored = .text(t)
            case "blob":
                guard let t = string(), let b = SQLiteValueMapping.hexDecode(t) else { return nil }
                stored = .blob(b)
            case "null":
                guard literal("null") else { return nil }
                stored = .null
            default:
                return nil
            }
            guard take(UInt8(ascii: "]")) else { return nil }
            out.append((name, stored))
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")), i == bytes.count else { return nil }
        return out
    }

    private mutating func take(_ c: UInt8) -> Bool {
        guard i < bytes.count, bytes[i] == c else { return false }
        i += 1
        return true
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    /// A string without control characters or `\\u` escapes (nil otherwise: the general parser
    /// decides); the other escapes (`\\"`, `\\\\`, `\\n`, ...) are decoded.
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                let s = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { return escapedString(from: start) }
            if c < 0x20 { return nil }
            i += 1
        }
        return nil
    }

    /// The rest of a string that holds escapes, from its first byte at `start`.
    private mutating func escapedString(from start: Int) -> String? {
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { return nil }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                default: return nil
                }
            case 0..<0x20:
                return nil
            default:
                out.append(c)
            }
        }
        return nil
    }

    /// A JSON integer that fits 64 bits (no fraction or exponent).
    private mutating func integer() -> Int64? {
        let negative = take(UInt8(ascii: "-"))
        let start = i
        var magnitude: UInt64 = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(UInt64(bytes[i] - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            magnitude = m2
            i += 1
        }
        let digits = i - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}
