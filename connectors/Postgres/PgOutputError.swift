/// Why bytes of a replication stream could not be decoded, and where.
///
/// Invariant: `offset` is a position inside the buffer that was passed to the decoder (0 = its first byte),
/// pointing at the field that could not be read.
public struct PgOutputError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The buffer ended although `needed` more bytes were required at `offset`.
        case truncated(needed: Int)
        /// A CopyData message that is neither XLogData (`w`) nor a primary keepalive (`k`).
        case unknownFrame(UInt8)
        /// A pgoutput message type this decoder does not know.
        case unknownMessage(UInt8)
        /// A streamed-transaction message (`S`, `E`, `c`, `A`; proto_version 2 with `streaming 'on'`),
        /// which this decoder does not support.
        case streamingMessage(UInt8)
        /// A tuple column kind other than `n`, `u`, `t` or `b`.
        case unknownColumnKind(UInt8)
        /// In Update or Delete, a tuple marker other than the `N`, `K` or `O` the layout allows there.
        case unexpectedTupleMarker(UInt8)
        /// A replica identity setting other than `d`, `n`, `f` or `i`.
        case unknownReplicaIdentity(UInt8)
        /// A length or count field that is negative.
        case negativeLength(Int32)
        /// A timestamp outside the range of Unix microseconds in an `Int64`.
        case timestampOutOfRange(Int64)
        /// Bytes left over after a complete message.
        case trailingBytes(count: Int)
    }

    public var reason: Reason
    public var offset: Int

    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch reason {
        case let .truncated(needed): what = "truncated: \(needed) more byte(s) needed"
        case let .unknownFrame(b): what = "unknown CopyData message \(PgOutputError.show(b))"
        case let .unknownMessage(b): what = "unknown pgoutput message \(PgOutputError.show(b))"
        case let .streamingMessage(b):
            what = "streamed-transaction message \(PgOutputError.show(b)) is not supported: start replication with proto_version '1' (or streaming off)"
        case let .unknownColumnKind(b): what = "unknown tuple column kind \(PgOutputError.show(b))"
        case let .unexpectedTupleMarker(b): what = "unexpected tuple marker \(PgOutputError.show(b))"
        case let .unknownReplicaIdentity(b): what = "unknown replica identity \(PgOutputError.show(b))"
        case let .negativeLength(n): what = "negative length \(n)"
        case let .timestampOutOfRange(t): what = "timestamp \(t) out of range"
        case let .trailingBytes(count): what = "\(count) unexpected trailing byte(s)"
        }
        return "pgoutput decoding error at offset \(offset): \(what)"
    }

    private static func show(_ byte: UInt8) -> String {
        let hex = "0x" + String(byte, radix: 16, uppercase: true)
        guard byte >= 0x20 && byte < 0x7F else { return hex }
        return "'\(Character(Unicode.Scalar(byte)))' (\(hex))"
    }
}
