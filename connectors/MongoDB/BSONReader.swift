/// Decodes BSON bytes (as libmongoc hands them out) into ``BSONDocument``s: a pure value-type
/// decoder, so it can be tested on captured bytes without a server.
///
/// Invariant: never reads outside the buffer; malformed input throws ``BSONError``.
public struct BSONReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Decodes one document from `bytes` (extra trailing bytes are an error).
    public static func document(_ bytes: [UInt8]) throws -> BSONDocument {
        try bytes.withUnsafeBytes { try document($0) }
    }

    /// Decodes one document from a raw buffer.
    public static func document(_ raw: UnsafeRawBufferPointer) throws -> BSONDocument {
        var reader = BSONReader(raw)
        let d = try reader.readDocument()
        guard reader.offset == raw.count else { throw BSONError(offset: reader.offset, reason: "\(raw.count - reader.offset) bytes after the document") }
        return d
    }

    private func fail(_ reason: String) -> BSONError { BSONError(offset: offset, reason: reason) }

    private mutating func need(_ n: Int) throws {
        guard n >= 0, offset + n <= bytes.count else { throw fail("truncated (needs \(n) more bytes)") }
    }

    private mutating func u8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func u32() throws -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return v
    }

    private mutating func u64() throws -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    private mutating func raw(_ n: Int) throws -> [UInt8] {
        try need(n)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    private mutating func cstring() throws -> String {
        let start = offset
        while true {
            try need(1)
            if bytes[offset] == 0 { break }
            offset += 1
        }
        let s = String(decoding: bytes[start..<offset], as: UTF8.self)
        offset += 1
        return s
    }

    private mutating func string() throws -> String {
        let length = Int(Int32(bitPattern: try u32()))
        guard length >= 1 else { throw fail("string length \(length)") }
        try need(length)
        guard bytes[offset + length - 1] == 0 else { throw fail("string not NUL-terminated") }
        let s = String(decoding: bytes[offset..<(offset + length - 1)], as: UTF8.self)
        offset += length
        return s
    }

    private mutating func readDocument() throws -> BSONDocument {
        let start = offset
        let length = Int(Int32(bitPattern: try u32()))
        guard length >= 5 else { throw fail("document length \(length)") }
        let end = start + length
        guard end <= bytes.count else { throw fail("document length \(length) past the end of the buffer") }
        var fields: [(String, BSONValue)] = []
        while true {
            let type = try u8()
            if type == 0 { break }
            let key = try cstring()
            fields.append((key, try value(type)))
            guard offset < end else { throw fail("field runs past the document's end") }
        }
        guard offset == end else { throw fail("document ends at \(offset), its length says \(end)") }
        return BSONDocument(fields)
    }

    private mutating func value(_ type: UInt8) throws -> BSONValue {
        switch type {
        case 0x01: return .double(Double(bitPattern: try u64()))
        case 0x02: return .string(try string())
        case 0x03: return .document(try readDocument())
        case 0x04: return .array(try readDocument().fields.map(\.1))
        case 0x05:
            let length = Int(Int32(bitPattern: try u32()))
            guard length >= 0 else { throw fail("binary length \(length)") }
            let subtype = try u8()
            var data = try raw(length)
            if subtype == 0x02, data.count >= 4 { data.removeFirst(4) }
            return .binary(subtype: subtype == 0x02 ? 0 : subtype, bytes: data)
        case 0x06: return .undefined
        case 0x07: return .objectId(try raw(12))
        case 0x08: return .bool(try u8() != 0)
        case 0x09: return .date(Int64(bitPattern: try u64()))
        case 0x0A: return .null
        case 0x0B: return .regex(pattern: try cstring(), options: try cstring())
        case 0x0C:
            _ = try string()
            _ = try raw(12)
            return .unsupported(type)
        case 0x0D: return .javascript(try string())
        case 0x0E: return .symbol(try string())
        case 0x0F:
            let length = Int(Int32(bitPattern: try u32()))
            guard length >= 4 else { throw fail("code with scope length \(length)") }
            _ = try raw(length - 4)
            return .unsupported(type)
        case 0x10: return .int32(Int32(bitPattern: try u32()))
        case 0x11:
            let increment = try u32()
            let seconds = try u32()
            return .timestamp(seconds: seconds, increment: increment)
        case 0x12: return .int64(Int64(bitPattern: try u64()))
        case 0x13:
            let low = try u64()
            let high = try u64()
            return .decimal128(low: low, high: high)
        case 0xFF: return .minKey
        case 0x7F: return .maxKey
        default: throw fail("unknown type byte 0x\(String(type, radix: 16))")
        }
    }
}
