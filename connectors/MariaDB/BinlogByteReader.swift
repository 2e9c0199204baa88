/// A cursor over the bytes of one binlog event: little-endian integers (the event format), the
/// big-endian ones of temporal and decimal values, and MySQL length-encoded integers and strings.
///
/// Invariant: every read is bounds-checked and throws ``BinlogDecodingError`` instead of trapping.
struct BinlogByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    /// Reads stop here (the start of the event's checksum, or the end of the bytes).
    let end: Int

    init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { max(0, end - offset) }
    var isAtEnd: Bool { offset >= end }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(BinlogDecodingError) {
        guard n >= 0, offset + n <= end else {
            throw BinlogDecodingError("truncated \(what()): need \(n) byte(s) at offset \(offset), \(remaining) left")
        }
    }

    mutating func skip(_ n: Int, _ what: @autoclosure () -> String = "field") throws(BinlogDecodingError) {
        try need(n, what())
        offset += n
    }

    mutating func u8(_ what: @autoclosure () -> String = "byte") throws(BinlogDecodingError) -> UInt8 {
        try need(1, what())
        defer { offset += 1 }
        return bytes[offset]
    }

    /// An unsigned little-endian integer of `n` (1…8) bytes.
    mutating func le(_ n: Int, _ what: @autoclosure () -> String = "integer") throws(BinlogDecodingError) -> UInt64 {
        try need(n, what())
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += n
        return v
    }

    /// An unsigned big-endian integer of `n` (1…8) bytes.
    mutating func be(_ n: Int, _ what: @autoclosure () -> String = "integer") throws(BinlogDecodingError) -> UInt64 {
        try need(n, what())
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += n
        return v
    }

    mutating func take(_ n: Int, _ what: @autoclosure () -> String = "bytes") throws(BinlogDecodingError) -> ArraySlice<UInt8> {
        try need(n, what())
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    /// A length-encoded integer (`< 0xfb` itself, `0xfc` + 2, `0xfd` + 3, `0xfe` + 8 bytes).
    mutating func lenenc(_ what: @autoclosure () -> String = "length") throws(BinlogDecodingError) -> UInt64 {
        let first = try u8(what())
        switch first {
        case 0..<0xfb: return UInt64(first)
        case 0xfc: return try le(2, what())
        case 0xfd: return try le(3, what())
        case 0xfe: return try le(8, what())
        default: throw BinlogDecodingError("invalid length-encoded integer 0x\(String(first, radix: 16)) in \(what())")
        }
    }

    /// A length-encoded count that must fit the remaining bytes (a guard against garbage lengths).
    mutating func count(_ what: @autoclosure () -> String) throws(BinlogDecodingError) -> Int {
        let v = try lenenc(what())
        guard v <= UInt64(max(remaining, 0)) * 8 + 8 else {
            throw BinlogDecodingError("implausible \(what()) \(v) with \(remaining) byte(s) left")
        }
        return Int(v)
    }

    mutating func lenencBytes(_ what: @autoclosure () -> String) throws(BinlogDecodingError) -> ArraySlice<UInt8> {
        let n = try lenenc(what())
        guard n <= UInt64(remaining) else { throw BinlogDecodingError("truncated \(what()): length \(n), \(remaining) left") }
        return try take(Int(n), what())
    }

    /// A bitmap of `bits` bits, least significant bit of the first byte first.
    mutating func bitmap(_ bits: Int, _ what: @autoclosure () -> String) throws(BinlogDecodingError) -> [Bool] {
        let bytes = try take((bits + 7) / 8, what())
        let base = bytes.startIndex
        return (0..<bits).map { bytes[base + $0 / 8] & (1 << UInt8($0 % 8)) != 0 }
    }
}

/// A binlog event that does not decode: truncated, or a value the decoder does not understand.
public struct BinlogDecodingError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
