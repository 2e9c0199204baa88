/// The canonical binary encoding of ``Value``: one byte of type tag, then the payload.
///
/// Equal values always encode to the same bytes (object keys sorted by UTF-8 bytes, doubles
/// canonicalised, decimals normalised), so the encoding serves for hashing, storage in the ledger
/// and exact comparison. Integers are 8 bytes big-endian; lengths and counts are LEB128 varints.
public enum ValueEncoding {
    enum Tag: UInt8 {
        case null = 0, boolFalse = 1, boolTrue = 2, int = 3, double = 4, decimal = 5
        case string = 6, bytes = 7, timestamp = 8, array = 9, object = 10
    }

    /// Errors from decoding bytes that were not produced by ``encode(_:)``.
    public struct DecodingError: Error, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid canonical value at byte \(offset): \(reason)" }
    }

    public static func encode(_ value: Value) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        encode(value, into: &out)
        return out
    }

    public static func encode(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(Tag.null.rawValue)
        case let .bool(b): out.append(b ? Tag.boolTrue.rawValue : Tag.boolFalse.rawValue)
        case let .int(i):
            out.append(Tag.int.rawValue)
            appendUInt64(UInt64(bitPattern: i), &out)
        case let .double(d):
            out.append(Tag.double.rawValue)
            appendUInt64(Value.canonicalBits(d), &out)
        case let .decimal(d):
            out.append(Tag.decimal.rawValue)
            // Written in place behind a one-byte length (a varint below 128), without the string.
            let start = out.count
            out.append(0)
            d.appendDescription(to: &out)
            let length = out.count - start - 1
            if length < 0x80 {
                out[start] = UInt8(length)
            } else {
                out.removeSubrange(start...)
                appendBytes(d.description.utf8, &out)
            }
        case let .string(s):
            out.append(Tag.string.rawValue)
            appendString(s, &out)
        case let .bytes(b):
            out.append(Tag.bytes.rawValue)
            appendBytes(b, &out)
        case let .timestamp(t):
            out.append(Tag.timestamp.rawValue)
            appendUInt64(UInt64(bitPattern: t), &out)
        case let .array(a):
            out.append(Tag.array.rawValue)
            appendVarint(UInt64(a.count), &out)
            for element in a { encode(element, into: &out) }
        case let .object(o):
            out.append(Tag.object.rawValue)
            appendVarint(UInt64(o.count), &out)
            for key in o.keys.sorted(by: utf8Less) {
                appendString(key, &out)
                encode(o[key]!, into: &out)
            }
        }
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> Value {
        let buffer = Array(bytes)
        var offset = 0
        let value = try decodeOne(buffer, &offset, depth: 0)
        guard offset == buffer.count else { throw DecodingError(offset: offset, reason: "trailing bytes") }
        return value
    }

    /// Decodes one value starting at `i` and advances `i` past it.
    static func decodeValue(_ b: [UInt8], _ i: inout Int) throws(DecodingError) -> Value {
        try decodeOne(b, &i, depth: 0)
    }

    private static func decodeOne(_ b: [UInt8], _ i: inout Int, depth: Int) throws(DecodingError) -> Value {
        guard depth < 512 else { throw DecodingError(offset: i, reason: "nesting deeper than 512") }
        guard i < b.count else { throw DecodingError(offset: i, reason: "unexpected end") }
        guard let tag = Tag(rawValue: b[i]) else { throw DecodingError(offset: i, reason: "unknown tag \(b[i])") }
        i += 1
        switch tag {
        case .null: return .null
        case .boolFalse: return .bool(false)
        case .boolTrue: return .bool(true)
        case .int: return .int(Int64(bitPattern: try readUInt64(b, &i)))
        case .double: return .double(Double(bitPattern: try readUInt64(b, &i)))
        case .timestamp: return .timestamp(Int64(bitPattern: try readUInt64(b, &i)))
        case .decimal:
            let start = i
            let text = String(decoding: try readBytes(b, &i), as: UTF8.self)
            guard let d = ExactDecimal(text) else { throw DecodingError(offset: start, reason: "bad decimal \(text)") }
            return .decimal(d)
        case .string: return .string(String(decoding: try readBytes(b, &i), as: UTF8.self))
        case .bytes: return .bytes(Array(try readBytes(b, &i)))
        case .array:
            let n = try readVarint(b, &i)
            guard n <= UInt64(b.count - i) else { throw DecodingError(offset: i, reason: "array count \(n) too large") }
            var items = [Value]()
            items.reserveCapacity(Int(n))
            for _ in 0..<n { items.append(try decodeOne(b, &i, depth: depth + 1)) }
            return .array(items)
        case .object:
            let n = try readVarint(b, &i)
            guard n <= UInt64(b.count - i) else { throw DecodingError(offset: i, reason: "object count \(n) too large") }
            var fields = [String: Value](minimumCapacity: Int(n))
            for _ in 0..<n {
                let key = String(decoding: try readBytes(b, &i), as: UTF8.self)
                fields[key] = try decodeOne(b, &i, depth: depth + 1)
            }
            return .object(fields)
        }
    }

    static func appendUInt64(_ v: UInt64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    static func appendVarint(_ v: UInt64, _ out: inout [UInt8]) {
        var x = v
        while x >= 0x80 {
            out.append(UInt8(x & 0x7F) | 0x80)
            x >>= 7
        }
        out.append(UInt8(x))
    }

    /// A length-prefixed string, copied from its UTF-8 storage in one go.
    static func appendString(_ string: String, _ out: inout [UInt8]) {
        var s = string
        s.withUTF8 { bytes in
            appendVarint(UInt64(bytes.count), &out)
            out.append(contentsOf: bytes)
        }
    }

    static func appendBytes<C: Collection<UInt8>>(_ bytes: C, _ out: inout [UInt8]) {
        appendVarint(UInt64(bytes.count), &out)
        out.append(contentsOf: bytes)
    }

    static func readUInt64(_ b: [UInt8], _ i: inout Int) throws(DecodingError) -> UInt64 {
        guard i + 8 <= b.count else { throw DecodingError(offset: i, reason: "truncated 8-byte field") }
        var v: UInt64 = 0
        for k in 0..<8 { v = v << 8 | UInt64(b[i + k]) }
        i += 8
        return v
    }

    static func readVarint(_ b: [UInt8], _ i: inout Int) throws(DecodingError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard i < b.count else { throw DecodingError(offset: i, reason: "truncated varint") }
            guard shift < 64 else { throw DecodingError(offset: i, reason: "varint too long") }
            let byte = b[i]
            i += 1
            v |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return v }
            shift += 7
        }
    }

    static func readBytes(_ b: [UInt8], _ i: inout Int) throws(DecodingError) -> ArraySlice<UInt8> {
        let n = try readVarint(b, &i)
        guard n <= UInt64(b.count - i) else { throw DecodingError(offset: i, reason: "length \(n) past end") }
        let slice = b[i..<(i + Int(n))]
        i += Int(n)
        return slice
    }
}
