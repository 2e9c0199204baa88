import DeltaCore

/// Decodes one column value of a row image into a ``Value``, by the column's TABLE_MAP type and
/// metadata, with the same representation the snapshot reads from the text protocol:
/// integers `.int` (BIGINT UNSIGNED above Int64.max `.decimal`), DECIMAL `.decimal`, FLOAT and
/// DOUBLE `.double` (FLOAT through its shortest decimal text), BIT and YEAR `.int`, DATE and TIME
/// `.string` (`2024-02-29`, `-01:02:03.500` with the column's fractional digits), DATETIME and
/// TIMESTAMP `.timestamp` (DATETIME read as UTC; zero dates as `.string`), text by its character set
/// `.string`, binary `.bytes` (BINARY(n) padded to n), ENUM/SET member names `.string`
/// (`a,c`), JSON as parsed JSON, UUID/INET as their text.
///
/// Invariant: never reads past the value; unknown types throw ``BinlogDecodingError`` naming them.
enum BinlogValueDecoder {
    static func decode(_ r: inout BinlogByteReader, _ c: BinlogTableMap.Column, semantic: MariaDBSemanticType?) throws(BinlogDecodingError) -> Value {
        let real = BinlogTableMap.realType(c)
        // Built only for an error message (the reader takes it as an autoclosure).
        var what: String { "value of column '\(c.name)' (\(real.name))" }
        switch real {
        case .tiny:
            let v = integer(try r.le(1, what), bytes: 1, unsigned: c.unsigned)
            if semantic == .bool, v == .int(0) || v == .int(1) { return .bool(v == .int(1)) }
            return v
        case .short: return integer(try r.le(2, what), bytes: 2, unsigned: c.unsigned)
        case .int24: return integer(try r.le(3, what), bytes: 3, unsigned: c.unsigned)
        case .long: return integer(try r.le(4, what), bytes: 4, unsigned: c.unsigned)
        case .longlong: return integer(try r.le(8, what), bytes: 8, unsigned: c.unsigned)
        case .float:
            let f = Float(bitPattern: UInt32(try r.le(4, what)))
            return .double(floatAsDouble(f))
        case .double:
            return .double(Double(bitPattern: try r.le(8, what)))
        case .newDecimal:
            let precision = Int(c.metadata & 0xff), scale = Int(c.metadata >> 8)
            return try decimal(&r, precision: precision, scale: scale, what: what)
        case .year:
            let y = try r.le(1, what)
            return .int(y == 0 ? 0 : 1900 + Int64(y))
        case .bit:
            let bits = Int(c.metadata & 0xff), bytes = Int(c.metadata >> 8)
            let n = bytes + (bits > 0 ? 1 : 0)
            guard n <= 8 else { throw BinlogDecodingError("BIT column '\(c.name)' of \(n) bytes") }
            return unsignedValue(try r.be(n, what))
        case .date, .newdate:
            let v = try r.le(3, what)
            return .string(dateText(year: Int(v >> 9), month: Int((v >> 5) & 15), day: Int(v & 31)))
        case .time:
            // Old format: HHMMSS as a signed 3-byte integer.
            var v = Int64(try r.le(3, what))
            if v & 0x800000 != 0 { v -= 0x1000000 }
            let negative = v < 0
            let a = abs(v)
            return .string(timeText(negative: negative, hours: a / 10000, minutes: a / 100 % 100, seconds: a % 100, micros: 0, fsp: 0))
        case .time2:
            return .string(try time2(&r, fsp: Int(c.metadata), what: what))
        case .datetime:
            let v = try r.le(8, what)
            let date = v / 1_000_000, time = v % 1_000_000
            return datetimeValue(year: Int(date / 10000), month: Int(date / 100 % 100), day: Int(date % 100),
                                 hour: Int(time / 10000), minute: Int(time / 100 % 100), second: Int(time % 100), micros: 0, fsp: 0)
        case .datetime2:
            return try datetime2(&r, fsp: Int(c.metadata), what: what)
        case .timestamp:
            let s = Int64(try r.le(4, what))
            return s == 0 ? .string("0000-00-00 00:00:00") : .timestamp(s * 1_000_000)
        case .timestamp2:
            let fsp = Int(c.metadata)
            let s = Int64(try r.be(4, what))
            let micros = try fraction(&r, fsp: fsp, what: what)
            if s == 0 && micros == 0 { return .string("0000-00-00 00:00:00" + (fsp > 0 ? "." + String(repeating: "0", count: fsp) : "")) }
            return .timestamp(s * 1_000_000 + micros)
        case .varchar, .varString:
            let max = Int(c.metadata)
            let n = Int(try r.le(max < 256 ? 1 : 2, what))
            return text(Array(try r.take(n, what)), c, semantic: semantic, padTo: nil)
        case .string:
            let b0 = Int(c.metadata & 0xff), b1 = Int(c.metadata >> 8)
            let max = (((b0 & 0x30) ^ 0x30) << 4) | b1
            let n = Int(try r.le(max < 256 ? 1 : 2, what))
            return text(Array(try r.take(n, what)), c, semantic: semantic, padTo: max)
        case .blob, .tinyBlob, .mediumBlob, .longBlob, .geometry, .json:
            let lengthBytes = Int(c.metadata)
            guard (1...4).contains(lengthBytes) else { throw BinlogDecodingError("BLOB column '\(c.name)' with \(lengthBytes) length bytes") }
            let n = Int(try r.le(lengthBytes, what))
            return text(Array(try r.take(n, what)), c, semantic: semantic, padTo: nil)
        case .enumType:
            let size = Int(c.metadata >> 8)
            let index = Int(try r.le(size, what))
            guard index > 0 else { return .string("") }
            if let members = c.members, index <= members.count { return .string(members[index - 1]) }
            return .int(Int64(index))
        case .setType:
            let size = Int(c.metadata >> 8)
            let bits = try r.le(size, what)
            guard let members = c.members else { return unsignedValue(bits) }
            var names: [String] = []
            for (i, m) in members.enumerated() where i < 64 && bits & (1 << UInt64(i)) != 0 { names.append(m) }
            return .string(names.joined(separator: ","))
        default:
            throw BinlogDecodingError("column '\(c.name)' has type \(real.name), which this connector cannot decode")
        }
    }

    static func integer(_ raw: UInt64, bytes: Int, unsigned: Bool) -> Value {
        if unsigned { return unsignedValue(raw) }
        let shift = UInt64(64 - 8 * bytes)
        return .int(Int64(bitPattern: raw << shift) >> Int64(shift))
    }

    static func unsignedValue(_ v: UInt64) -> Value {
        v <= UInt64(Int64.max) ? .int(Int64(v)) : .decimal(ExactDecimal(String(v))!)
    }

    /// A FLOAT as the double of its shortest decimal text (`3.14159`, not `3.141590118…`).
    static func floatAsDouble(_ f: Float) -> Double {
        guard f.isFinite else { return Double(f) }
        return Double(f.description) ?? Double(f)
    }

    private static let digitsPerBytes = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]

    /// The binary DECIMAL format: groups of 9 digits in 4 bytes, big-endian, sign in the top bit
    /// (inverted bytes for negatives).
    static func decimal(_ r: inout BinlogByteReader, precision: Int, scale: Int, what: @autoclosure () -> String) throws(BinlogDecodingError) -> Value {
        guard precision > 0, precision <= 65, scale <= precision, scale <= 38 || scale <= precision else {
            throw BinlogDecodingError("DECIMAL(\(precision),\(scale)) metadata is invalid in \(what())")
        }
        let intg = precision - scale
        let intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9
        let size = intg0 * 4 + digitsPerBytes[intg0x] + frac0 * 4 + digitsPerBytes[frac0x]
        var bytes = Array(try r.take(size, what()))
        guard !bytes.isEmpty else { return .decimal(ExactDecimal("0")!) }
        let negative = bytes[0] & 0x80 == 0
        bytes[0] ^= 0x80
        if negative { for i in bytes.indices { bytes[i] = ~bytes[i] } }
        var p = 0
        func group(_ n: Int, digits: Int) -> String {
            var v: UInt64 = 0
            for _ in 0..<n { v = v << 8 | UInt64(bytes[p]); p += 1 }
            let s = String(v)
            return String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        var text = negative ? "-" : ""
        if intg0x > 0 { text += group(digitsPerBytes[intg0x], digits: intg0x) }
        for _ in 0..<intg0 { text += group(4, digits: 9) }
        if intg == 0 { text += "0" }
        if scale > 0 {
            text += "."
            for _ in 0..<frac0 { text += group(4, digits: 9) }
            if frac0x > 0 { text += group(digitsPerBytes[frac0x], digits: frac0x) }
        }
        guard let d = ExactDecimal(text) else { throw BinlogDecodingError("DECIMAL bytes do not form a number in \(what())") }
        return .decimal(d)
    }

    /// Fractional seconds of TIME2/DATETIME2/TIMESTAMP2 in µs (unsigned reading).
    static func fraction(_ r: inout BinlogByteReader, fsp: Int, what: @autoclosure () -> String) throws(BinlogDecodingError) -> Int64 {
        switch fsp {
        case 1, 2: return Int64(try r.be(1, what())) * 10_000
        case 3, 4: return Int64(try r.be(2, what())) * 100
        case 5, 6: return Int64(try r.be(3, what()))
        default: return 0
        }
    }

    static func time2(_ r: inout BinlogByteReader, fsp: Int, what: @autoclosure () -> String) throws(BinlogDecodingError) -> String {
        let packed: Int64
        switch fsp {
        case 1, 2:
            var intpart = Int64(try r.be(3, what())) - 0x800000
            var frac = Int64(try r.be(1, what()))
            if intpart < 0 && frac != 0 { intpart += 1; frac -= 0x100 }
            packed = intpart << 24 + frac * 10_000
        case 3, 4:
            var intpart = Int64(try r.be(3, what())) - 0x800000
            var frac = Int64(try r.be(2, what()))
            if intpart < 0 && frac != 0 { intpart += 1; frac -= 0x10000 }
            packed = intpart << 24 + frac * 100
        case 5, 6:
            packed = Int64(try r.be(6, what())) - 0x800000000000
        default:
            packed = (Int64(try r.be(3, what())) - 0x800000) << 24
        }
        let negative = packed < 0
        let a = abs(packed)
        let hms = a >> 24, micros = a & 0xffffff
        return timeText(negative: negative, hours: (hms >> 12) % (1 << 10), minutes: (hms >> 6) % 64, seconds: hms % 64, micros: micros, fsp: fsp)
    }

    static func datetime2(_ r: inout BinlogByteReader, fsp: Int, what: @autoclosure () -> String) throws(BinlogDecodingError) -> Value {
        let intpart = Int64(try r.be(5, what())) - 0x8000000000
        let micros = try fraction(&r, fsp: fsp, what: what())
        let ymd = intpart >> 17, ym = ymd >> 5, hms = intpart % (1 << 17)
        return datetimeValue(year: Int(ym / 13), month: Int(ym % 13), day: Int(ymd % 32), hour: Int(hms >> 12),
                             minute: Int((hms >> 6) % 64), second: Int(hms % 64), micros: micros, fsp: fsp)
    }

    static func datetimeValue(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, micros: Int64, fsp: Int) -> Value {
        guard month >= 1, month <= 12, day >= 1, Int64(day) <= Timestamps.daysInMonth(Int64(year), Int64(month)) else {
            var s = dateText(year: year, month: month, day: day) + " " + pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2)
            if fsp > 0 { s += "." + String(pad(Int(micros), 6).prefix(fsp)) }
            return .string(s)
        }
        let days = Timestamps.days(fromCivil: Int64(year), Int64(month), Int64(day))
        return .timestamp(((days * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000_000 + Int64(second) * 1_000_000 + micros)
    }

    static func dateText(year: Int, month: Int, day: Int) -> String {
        pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }

    static func timeText(negative: Bool, hours: Int64, minutes: Int64, seconds: Int64, micros: Int64, fsp: Int) -> String {
        var s = (negative ? "-" : "") + pad(Int(hours), 2) + ":" + pad(Int(minutes), 2) + ":" + pad(Int(seconds), 2)
        if fsp > 0 { s += "." + String(pad(Int(micros), 6).prefix(fsp)) }
        return s
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// A string column's bytes by its character set and semantic type.
    static func text(_ bytes: [UInt8], _ c: BinlogTableMap.Column, semantic: MariaDBSemanticType?, padTo: Int?) -> Value {
        var bytes = bytes
        switch semantic {
        case .uuid?:
            return bytes.count <= 16 ? .string(MariaDBText.uuid(bytes + [UInt8](repeating: 0, count: 16 - bytes.count))) : .bytes(bytes)
        case .inet6?:
            return bytes.count <= 16 ? .string(MariaDBText.inet6(bytes + [UInt8](repeating: 0, count: 16 - bytes.count))) : .bytes(bytes)
        case .inet4?:
            return bytes.count <= 4 ? .string(MariaDBText.inet4(bytes + [UInt8](repeating: 0, count: 4 - bytes.count))) : .bytes(bytes)
        case .json?:
            let s = MariaDBText.decode(bytes, charset: c.charset ?? 45)
            return (try? JSONCodec.parse(s)) ?? .string(s)
        case nil, .bool?:
            break
        }
        if c.charset == 63 {
            if let padTo, bytes.count < padTo { bytes += [UInt8](repeating: 0, count: padTo - bytes.count) }
            return .bytes(bytes)
        }
        return .string(MariaDBText.decode(bytes, charset: c.charset ?? 45))
    }
}
