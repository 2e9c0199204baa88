/// A cursor over a byte buffer that reads PostgreSQL's big-endian wire fields and throws, never traps,
/// when the buffer is too short.
///
/// Invariant: `offset` never exceeds `bytes.count`; every read either advances past the whole field or throws.
struct PgByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = min(max(offset, 0), bytes.count)
    }

    var remaining: Int { bytes.count - offset }

    private func need(_ count: Int) throws(PgOutputError) {
        if remaining < count { throw PgOutputError(.truncated(needed: count - remaining), at: offset) }
    }

    mutating func uint8() throws(PgOutputError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func bigEndian(_ count: Int) throws(PgOutputError) -> UInt64 {
        try need(count)
        var v: UInt64 = 0
        for i in offset..<(offset + count) { v = v << 8 | UInt64(bytes[i]) }
        offset += count
        return v
    }

    mutating func uint16() throws(PgOutputError) -> UInt16 { UInt16(truncatingIfNeeded: try bigEndian(2)) }
    mutating func uint32() throws(PgOutputError) -> UInt32 { UInt32(truncatingIfNeeded: try bigEndian(4)) }
    mutating func int32() throws(PgOutputError) -> Int32 { Int32(bitPattern: try uint32()) }
    mutating func uint64() throws(PgOutputError) -> UInt64 { try bigEndian(8) }
    mutating func int64() throws(PgOutputError) -> Int64 { Int64(bitPattern: try uint64()) }
    mutating func lsn() throws(PgOutputError) -> LSN { LSN(try uint64()) }

    /// A non-negative Int16 count (column counts are written as int16).
    mutating func count16() throws(PgOutputError) -> Int {
        let start = offset
        let n = Int16(bitPattern: try uint16())
        if n < 0 { throw PgOutputError(.negativeLength(Int32(n)), at: start) }
        return Int(n)
    }

    /// A non-negative Int32 length or count.
    mutating func count32() throws(PgOutputError) -> Int {
        let start = offset
        let n = try int32()
        if n < 0 { throw PgOutputError(.negativeLength(n), at: start) }
        return Int(n)
    }

    mutating func bytes(count: Int) throws(PgOutputError) -> [UInt8] {
        try need(count)
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }

    /// A NUL-terminated string (names are in the database encoding, UTF-8 here; invalid bytes become U+FFFD).
    /// A missing NUL is truncation: the string may go on past the end of the buffer.
    mutating func cString() throws(PgOutputError) -> String {
        guard let end = bytes[offset...].firstIndex(of: 0) else {
            throw PgOutputError(.truncated(needed: 1), at: bytes.count)
        }
        defer { offset = end + 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    /// A timestamp in µs since 2000-01-01, as Unix µs.
    mutating func timestamp() throws(PgOutputError) -> Int64 {
        let start = offset
        let raw = try int64()
        guard let unix = PostgresTimestamp.unixMicros(fromPostgres: raw) else {
            throw PgOutputError(.timestampOutOfRange(raw), at: start)
        }
        return unix
    }

    func expectEnd() throws(PgOutputError) {
        if remaining > 0 { throw PgOutputError(.trailingBytes(count: remaining), at: offset) }
    }
}
