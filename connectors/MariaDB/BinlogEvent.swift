import DeltaCore

/// One binlog event as the replication stream delivers it, decoded as far as the source needs:
/// transaction boundaries (GTID, XID, `COMMIT` queries), table maps, row images, DDL and rotation.
///
/// Invariant: `header` is always decoded; the body of an event type the source does not use is
/// `.other` and never fails to decode.
public struct BinlogEvent: Sendable {
    /// The common 19-byte header.
    public struct Header: Sendable, Equatable {
        /// Seconds since the Unix epoch (the event's statement start time).
        public var timestamp: UInt32
        public var type: UInt8
        public var serverID: UInt32
        public var size: UInt32
        /// Position of the next event in the binlog file (0 for artificial events).
        public var nextPosition: UInt32
        public var flags: UInt16

        /// `LOG_EVENT_SKIP_REPLICATION_F`: written by a session with `skip_replication=1`.
        public var skipReplication: Bool { flags & 0x8000 != 0 }
        /// `LOG_EVENT_ARTIFICIAL_F`: made up by the dump thread (the first ROTATE).
        public var artificial: Bool { flags & 0x20 != 0 }
    }

    /// Row images of one WRITE/UPDATE/DELETE_ROWS event.
    public struct Rows: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case write, update, delete }
        public var kind: Kind
        public var tableID: UInt64
        /// STMT_END_F: the last row event of the statement (table maps end with it).
        public var statementEnd: Bool
        /// The raw bytes after the post-header, decoded with the table map by ``BinlogRowsDecoder``.
        public var body: [UInt8]
    }

    /// What the event says, for the event types the source uses; everything else is `.other`.
    public enum Body: Sendable {
        /// MariaDB GTID event: starts an event group; `standalone` groups (DDL) have no XID.
        case gtid(domain: UInt32, sequence: UInt64, standalone: Bool)
        /// XID: commits a transaction.
        case xid
        case query(database: String, sql: String)
        case tableMap(BinlogTableMap)
        case rows(Rows)
        case rotate(file: String, position: UInt64)
        case formatDescription(checksum: Bool)
        case heartbeat
        case other
    }

    public var header: Header
    public var body: Body

    /// Decodes an event (header + body + checksum when `checksum` is true).
    public static func decode(_ bytes: [UInt8], checksum: Bool) throws(BinlogDecodingError) -> BinlogEvent {
        var h = BinlogByteReader(bytes)
        let header = Header(timestamp: UInt32(try h.le(4, "event timestamp")), type: try h.u8("event type"),
                            serverID: UInt32(try h.le(4, "server id")), size: UInt32(try h.le(4, "event size")),
                            nextPosition: UInt32(try h.le(4, "log position")), flags: UInt16(try h.le(2, "event flags")))
        if header.type == 15 {
            // FORMAT_DESCRIPTION: its checksum algorithm byte sits before the (always present) CRC.
            let alg = bytes.count >= 24 ? bytes[bytes.count - 5] : 0
            return BinlogEvent(header: header, body: .formatDescription(checksum: alg == 1))
        }
        let end = checksum && bytes.count >= 23 ? bytes.count - 4 : bytes.count
        var r = BinlogByteReader(bytes, offset: 19, end: end)
        let body: Body
        switch header.type {
        case 162:
            let sequence = try r.le(8, "GTID sequence")
            let domain = UInt32(try r.le(4, "GTID domain"))
            let flags = try r.u8("GTID flags")
            body = .gtid(domain: domain, sequence: sequence, standalone: flags & 1 != 0)
        case 16:
            body = .xid
        case 2:
            try r.skip(8, "query post-header")
            let dbLength = Int(try r.u8("query database length"))
            try r.skip(2, "query error code")
            let statusLength = Int(try r.le(2, "query status length"))
            try r.skip(statusLength, "query status variables")
            let database = String(decoding: try r.take(dbLength, "query database"), as: UTF8.self)
            try r.skip(1, "query database terminator")
            body = .query(database: database, sql: String(decoding: try r.take(r.remaining), as: UTF8.self))
        case 19:
            body = .tableMap(try BinlogTableMap.decode(&r))
        case 23, 24, 25, 30, 31, 32:
            let tableID = try r.le(6, "rows table id")
            let flags = try r.le(2, "rows flags")
            if header.type >= 30 {
                let extra = Int(try r.le(2, "rows extra data length"))
                try r.skip(max(0, extra - 2), "rows extra data")
            }
            let kind: Rows.Kind = [23, 30].contains(header.type) ? .write : ([24, 31].contains(header.type) ? .update : .delete)
            body = .rows(Rows(kind: kind, tableID: tableID, statementEnd: flags & 1 != 0, body: Array(try r.take(r.remaining))))
        case 4:
            let position = try r.le(8, "rotate position")
            body = .rotate(file: String(decoding: try r.take(r.remaining), as: UTF8.self), position: position)
        case 27:
            body = .heartbeat
        case 166, 167, 168, 169, 170, 171:
            throw BinlogDecodingError("compressed row events (log_bin_compress=ON) are not supported — SET GLOBAL log_bin_compress=OFF")
        default:
            body = .other
        }
        return BinlogEvent(header: header, body: body)
    }
}
