import DeltaCore

/// Converts between the text protocol and ``Value``s by column type, matching what
/// ``BinlogValueDecoder`` produces from row images (so a snapshot row and a streamed row of the
/// same content are equal), and turns values into SQL literals for the sink.
///
/// Invariants: decoding never fails (an unparsable text falls back to `.string`); for every
/// mapped type `decode(literal(v))` read back from the server equals `v`.
enum MariaDBValueMapping {
    /// The select-list expression that reads `column` for ``decode(_:_:)``: FLOAT through DOUBLE
    /// (its exact value, not the 6-digit text), BIT as a number.
    static func selectExpression(_ column: MariaDBColumn) -> String {
        let ident = MariaDBSQL.ident(column.name)
        if column.isFloat { return "CAST(\(ident) AS DOUBLE) AS \(ident)" }
        if column.isBit { return "CAST(\(ident) AS UNSIGNED) AS \(ident)" }
        return ident
    }

    /// A text-protocol value of `column` (nil = SQL NULL).
    static func decode(_ bytes: [UInt8]?, _ column: MariaDBColumn?) -> Value {
        guard let bytes else { return .null }
        guard let column else { return .string(String(decoding: bytes, as: UTF8.self)) }
        if column.isBinary && column.semantic == nil { return .bytes(bytes) }
        let text = String(decoding: bytes, as: UTF8.self)
        switch column.semantic {
        case .json?: return (try? JSONCodec.parse(text)) ?? .string(text)
        case .uuid?, .inet6?, .inet4?: return .string(text)
        case .bool?:
            if text == "0" || text == "1" { return .bool(text == "1") }
        case nil: break
        }
        switch column.dataType {
        case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "bit", "year":
            if let i = Int64(text) { return .int(i) }
            return ExactDecimal(text).map(Value.decimal) ?? .string(text)
        case "decimal", "numeric":
            return ExactDecimal(text).map(Value.decimal) ?? .string(text)
        case "float":
            guard let d = Double(text) else { return .string(text) }
            return .double(BinlogValueDecoder.floatAsDouble(Float(d)))
        case "double", "real":
            return Double(text).map(Value.double) ?? .string(text)
        case "datetime", "timestamp":
            return parseDateTime(text).map(Value.timestamp) ?? .string(text)
        default:
            return .string(text)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS[.f…]` as µs since the epoch (UTC); nil for zero or invalid dates.
    static func parseDateTime(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 19, b[4] == 45, b[7] == 45, b[10] == 32, b[13] == 58, b[16] == 58 else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let s = num(17..<19) else { return nil }
        guard mo >= 1, mo <= 12, d >= 1, d <= Timestamps.daysInMonth(y, mo) else { return nil }
        var micros: Int64 = 0
        if b.count > 19 {
            guard b[19] == 46, b.count <= 26, let f = num(20..<b.count) else { return nil }
            micros = f
            for _ in 0..<(6 - (b.count - 20)) { micros *= 10 }
        }
        let days = Timestamps.days(fromCivil: y, mo, d)
        return ((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000 + micros
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) for a DATETIME/TIMESTAMP column.
    static func dateTimeText(_ micros: Int64) -> String {
        let days = micros >= 0 ? micros / 86_400_000_000 : -((-micros + 86_400_000_000 - 1) / 86_400_000_000)
        let rest = micros - days * 86_400_000_000
        let (y, m, d) = Timestamps.civil(fromDays: days)
        let secs = rest / 1_000_000, frac = rest % 1_000_000
        let p = BinlogValueDecoder.pad
        return p(Int(y), 4) + "-" + p(Int(m), 2) + "-" + p(Int(d), 2) + " " + p(Int(secs / 3600), 2) + ":" + p(Int(secs / 60 % 60), 2) + ":"
            + p(Int(secs % 60), 2) + "." + p(Int(frac), 6)
    }

    /// Why a value cannot be written to a column.
    struct Refusal: Error {
        let reason: String
    }

    /// The SQL literal for `value` in `column` (nil column: a literal by the value's own type).
    static func literal(_ value: Value, _ column: MariaDBColumn?) throws(Refusal) -> String {
        try parameter(value, column).literal
    }

    /// The statement parameter for `value` in `column` (nil column: by the value's own type).
    static func parameter(_ value: Value, _ column: MariaDBColumn?) throws(Refusal) -> MariaDBParameter {
        switch value {
        case .null: return .null
        case let .bool(b): return .int(b ? 1 : 0)
        case let .int(i): return .int(i)
        case let .double(d):
            guard d.isFinite else { throw Refusal(reason: "MariaDB cannot hold the double \(d) (no NaN or infinities)") }
            if column?.isText == true || column?.semantic == .json { return .text("\(d)") }
            return .double(d)
        case let .decimal(x):
            let text = x.description
            guard !["NaN", "Infinity", "-Infinity"].contains(text) else {
                throw Refusal(reason: "MariaDB cannot hold the decimal \(x) (no NaN or infinities)")
            }
            return .decimal(text)
        case let .string(s):
            return .text(s)
        case let .bytes(b):
            return .bytes(b)
        case let .timestamp(t):
            if let column, column.isTemporalInstant { return .text(dateTimeText(t)) }
            if column?.dataType == "date" { return .text(String(dateTimeText(t).prefix(10))) }
            if column?.dataType == "time" { return .text(String(dateTimeText(t).dropFirst(11))) }
            return .text(Timestamps.iso8601(micros: t))
        case .array, .object:
            do {
                return .text(try JSONCodec.serialize(value))
            } catch {
                throw Refusal(reason: "\(error)")
            }
        }
    }
}
