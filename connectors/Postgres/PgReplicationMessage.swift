/// One CopyData message a walsender sends during `START_REPLICATION`: WAL data carrying one pgoutput message,
/// or a primary keepalive. Times are Unix microseconds (converted from PostgreSQL's µs since 2000-01-01).
public enum PgReplicationMessage: Sendable, Equatable {
    /// `w`: the WAL position of the change, the server's end of WAL, its clock, and the pgoutput message
    /// (decode it with ``PgOutputDecoder/decodeMessage(_:)``). PostgreSQL 15 sends `walStart = walEnd = 0/0`
    /// on frames that are not the last write of a change (Relation and Type messages, and a Begin followed by
    /// an Origin message): never take such a frame's LSN as a position; checkpoint ``PgOutputMessage/Commit/endLSN``.
    case xLogData(walStart: LSN, walEnd: LSN, sendTime: Int64, payload: [UInt8])
    /// `k`: the server's end of WAL and clock; `replyRequested` asks for a ``PgStandbyStatusUpdate`` at once
    /// (else the walsender times the connection out after `wal_sender_timeout`).
    case keepalive(walEnd: LSN, sendTime: Int64, replyRequested: Bool)
}
