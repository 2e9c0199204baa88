/// Encodes ``BSONDocument``s into BSON bytes for libmongoc (`bson_new_from_data`).
///
/// Invariant: the output is one well-formed document; keys and regex parts must not contain NUL
/// (they are cut at the first NUL, which MongoDB would refuse anyway).
public enum BSONWriter {
    public static func bytes(_ document: BSONDocument) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(document, into: &out)
        return out
    }

    private static func write(_ document: BSONDocument, into out: inout [UInt8]) {
        let start = out.count
        out += [0, 0, 0, 0]
        for (key, value) in document.fields { element(key, value, into: &out) }
        out.append(0)
        patch(Int32(out.count - start), at: start, in: &out)
    }

    private static func writeArray(_ values: [BSONValue], into out: inout [UInt8]) {
        let start = out.count
        out += [0, 0, 0, 0]
        for (i, value) in values.enumerated() { element(String(i), value, into: &out) }
        out.append(0)
        patch(Int32(out.count - start), at: start, in: &out)
    }

    private static func patch(_ v: Int32, at index: Int, in out: inout [UInt8]) {
        let u = UInt32(bitPattern: v)
        for i in 0..<4 { out[index + i] = UInt8(truncatingIfNeeded: u >> (8 * UInt32(i))) }
    }

    private static func le32(_ v: UInt32, _ out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    private static func le64(_ v: UInt64, _ out: inout [UInt8]) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    private static func cstring(_ s: String, _ out: inout [UInt8]) {
        out += s.utf8.prefix { $0 != 0 }
        out.append(0)
    }

    private static func string(_ s: String, _ out: inout [UInt8]) {
        let utf8 = Array(s.utf8)
        le32(UInt32(utf8.count + 1), &out)
        out += utf8
        out.append(0)
    }

    private static func element(_ key: String, _ value: BSONValue, into out: inout [UInt8]) {
        func head(_ type: UInt8) {
            out.append(type)
            cstring(key, &out)
        }
        switch value {
        case let .double(d): head(0x01); le64(d.bitPattern, &out)
        case let .string(s): head(0x02); string(s, &out)
        case let .document(d): head(0x03); write(d, into: &out)
        case let .array(a): head(0x04); writeArray(a, into: &out)
        case let .binary(subtype, bytes):
            head(0x05)
            le32(UInt32(bytes.count), &out)
            out.append(subtype)
            out += bytes
        case .undefined: head(0x06)
        case let .objectId(id): head(0x07); out += id.prefix(12); if id.count < 12 { out += [UInt8](repeating: 0, count: 12 - id.count) }
        case let .bool(b): head(0x08); out.append(b ? 1 : 0)
        case let .date(ms): head(0x09); le64(UInt64(bitPattern: ms), &out)
        case .null, .unsupported: head(0x0A)
        case let .regex(pattern, options): head(0x0B); cstring(pattern, &out); cstring(options, &out)
        case let .javascript(s): head(0x0D); string(s, &out)
        case let .symbol(s): head(0x0E); string(s, &out)
        case let .int32(i): head(0x10); le32(UInt32(bitPattern: i), &out)
        case let .timestamp(seconds, increment): head(0x11); le32(increment, &out); le32(seconds, &out)
        case let .int64(i): head(0x12); le64(UInt64(bitPattern: i), &out)
        case let .decimal128(low, high): head(0x13); le64(low, &out); le64(high, &out)
        case .minKey: head(0xFF)
        case .maxKey: head(0x7F)
        }
    }
}
