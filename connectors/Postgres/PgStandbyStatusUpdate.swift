/// The Standby Status Update (`r`) a replication client sends in a CopyData message to report progress; the
/// `flushed` position is what advances the slot's `confirmed_flush_lsn` and lets the server recycle WAL.
///
/// Invariant: ``encoded()`` is always 34 bytes: `r`, written, flushed and applied LSN, the clock in µs since
/// 2000-01-01 (all big-endian 64-bit), and a reply-request byte; ``init(decoding:)`` reverses it exactly.
public struct PgStandbyStatusUpdate: Sendable, Equatable {
    /// WAL received by the client.
    public var written: LSN
    /// WAL durably processed: the server may discard WAL up to here and resumes after it.
    public var flushed: LSN
    /// WAL applied.
    public var applied: LSN
    /// The client's clock, Unix µs.
    public var clock: Int64
    /// Ask the server to answer with a keepalive immediately.
    public var replyRequested: Bool

    public init(written: LSN, flushed: LSN, applied: LSN, clock: Int64, replyRequested: Bool = false) {
        self.written = written
        self.flushed = flushed
        self.applied = applied
        self.clock = clock
        self.replyRequested = replyRequested
    }

    /// The CopyData payload to send (e.g. with `PQputCopyData` then `PQflush`).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "r")]
        out.reserveCapacity(34)
        let clock2000 = clock.subtractingReportingOverflow(PostgresTimestamp.postgresEpochOffsetMicros)
        for v in [written.value, flushed.value, applied.value, UInt64(bitPattern: clock2000.partialValue)] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
        }
        out.append(replyRequested ? 1 : 0)
        return out
    }

    /// Decodes a payload produced by ``encoded()`` (for tests and tools).
    public init(decoding bytes: [UInt8]) throws(PgOutputError) {
        var r = PgByteReader(bytes)
        let tag = try r.uint8()
        guard tag == UInt8(ascii: "r") else { throw PgOutputError(.unknownFrame(tag), at: 0) }
        written = try r.lsn()
        flushed = try r.lsn()
        applied = try r.lsn()
        clock = try r.timestamp()
        replyRequested = try r.uint8() != 0
        try r.expectEnd()
    }
}
