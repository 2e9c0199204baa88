/// Decodes a `pgoutput` logical replication stream (proto_version 1) from bytes without I/O, remembering the
/// Relation and Type messages and the open transaction it has seen.
///
/// Invariant: no input traps; malformed, truncated or unknown input throws ``PgOutputError`` with the offset and
/// leaves the decoder's state unchanged.
public struct PgOutputDecoder: Sendable {
    /// The latest Relation message per relation id.
    public private(set) var relations: [UInt32: PgOutputMessage.Relation] = [:]
    /// The latest Type message per type OID.
    public private(set) var types: [UInt32: PgOutputMessage.TypeInfo] = [:]
    /// The Begin of the transaction being received, between Begin and Commit.
    public private(set) var transaction: PgOutputMessage.Begin?
    /// The Origin message of the transaction being received, if it had one.
    public private(set) var transactionOrigin: PgOutputMessage.Origin?

    public init() {}

    /// Decodes one CopyData message of the replication stream (`w` or `k`). Stateless.
    public static func decodeFrame(_ bytes: [UInt8]) throws(PgOutputError) -> PgReplicationMessage {
        var r = PgByteReader(bytes)
        let tag = try r.uint8()
        switch tag {
        case UInt8(ascii: "w"):
            let walStart = try r.lsn()
            let walEnd = try r.lsn()
            let sendTime = try r.timestamp()
            return .xLogData(walStart: walStart, walEnd: walEnd, sendTime: sendTime, payload: r.rest())
        case UInt8(ascii: "k"):
            let walEnd = try r.lsn()
            let sendTime = try r.timestamp()
            let reply = try r.uint8()
            try r.expectEnd()
            return .keepalive(walEnd: walEnd, sendTime: sendTime, replyRequested: reply != 0)
        default:
            throw PgOutputError(.unknownFrame(tag), at: 0)
        }
    }

    /// Decodes one pgoutput message (an XLogData payload, or one `data` value of
    /// `pg_logical_slot_peek_binary_changes`) and updates the relation, type and transaction state.
    /// PostgreSQL sends Relation and Type messages once per session and again after invalidations.
    /// proto_version 2 without `streaming` sends the same bytes as 1 (verified on PostgreSQL 15); the messages
    /// of streamed transactions are rejected with ``PgOutputError/Reason/streamingMessage(_:)``.
    public mutating func decodeMessage(_ bytes: [UInt8]) throws(PgOutputError) -> PgOutputMessage {
        let message = try PgOutputDecoder.parse(bytes)
        switch message {
        case let .begin(begin):
            transaction = begin
            transactionOrigin = nil
        case .commit:
            transaction = nil
            transactionOrigin = nil
        case let .origin(origin):
            transactionOrigin = origin
        case let .relation(relation):
            relations[relation.id] = relation
        case let .type(type):
            types[type.oid] = type
        case .insert, .update, .delete, .truncate, .message:
            break
        }
        return message
    }

    /// Forgets relations, types and the open transaction (after reconnecting: the server resends them).
    public mutating func reset() {
        self = PgOutputDecoder()
    }

    static func parse(_ bytes: [UInt8]) throws(PgOutputError) -> PgOutputMessage {
        var r = PgByteReader(bytes)
        let tag = try r.uint8()
        let message: PgOutputMessage
        switch tag {
        case UInt8(ascii: "B"):
            let finalLSN = try r.lsn()
            let commitTime = try optionalTimestamp(&r)
            message = .begin(.init(finalLSN: finalLSN, commitTime: commitTime, xid: try r.uint32()))
        case UInt8(ascii: "C"):
            let flags = try r.uint8()
            let commitLSN = try r.lsn()
            let endLSN = try r.lsn()
            message = .commit(.init(flags: flags, commitLSN: commitLSN, endLSN: endLSN, commitTime: try optionalTimestamp(&r)))
        case UInt8(ascii: "O"):
            let commitLSN = try r.lsn()
            message = .origin(.init(commitLSN: commitLSN, name: try r.cString()))
        case UInt8(ascii: "R"):
            message = .relation(try relation(&r))
        case UInt8(ascii: "Y"):
            let oid = try r.uint32()
            let namespace = try r.cString()
            message = .type(.init(oid: oid, namespace: namespace, name: try r.cString()))
        case UInt8(ascii: "I"):
            let relationID = try r.uint32()
            try expectMarker(&r, allowed: [UInt8(ascii: "N")])
            message = .insert(.init(relationID: relationID, newTuple: try tuple(&r)))
        case UInt8(ascii: "U"):
            let relationID = try r.uint32()
            var oldKey: PgTupleData?
            var oldTuple: PgTupleData?
            var marker = try expectMarker(&r, allowed: [UInt8(ascii: "K"), UInt8(ascii: "O"), UInt8(ascii: "N")])
            if marker == UInt8(ascii: "K") {
                oldKey = try tuple(&r)
            } else if marker == UInt8(ascii: "O") {
                oldTuple = try tuple(&r)
            }
            if marker != UInt8(ascii: "N") {
                marker = try expectMarker(&r, allowed: [UInt8(ascii: "N")])
            }
            message = .update(.init(relationID: relationID, oldKey: oldKey, oldTuple: oldTuple, newTuple: try tuple(&r)))
        case UInt8(ascii: "D"):
            let relationID = try r.uint32()
            let marker = try expectMarker(&r, allowed: [UInt8(ascii: "K"), UInt8(ascii: "O")])
            let old = try tuple(&r)
            message = .delete(marker == UInt8(ascii: "K") ? .init(relationID: relationID, oldKey: old)
                                                           : .init(relationID: relationID, oldTuple: old))
        case UInt8(ascii: "T"):
            let count = try r.count32()
            let options = try r.uint8()
            var ids: [UInt32] = []
            ids.reserveCapacity(min(count, r.remaining / 4))
            for _ in 0..<count { ids.append(try r.uint32()) }
            message = .truncate(.init(options: options, relationIDs: ids))
        case UInt8(ascii: "M"):
            let flags = try r.uint8()
            let lsn = try r.lsn()
            let prefix = try r.cString()
            let length = try r.count32()
            message = .message(.init(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: try r.bytes(count: length)))
        case UInt8(ascii: "S"), UInt8(ascii: "E"), UInt8(ascii: "c"), UInt8(ascii: "A"):
            throw PgOutputError(.streamingMessage(tag), at: 0)
        default:
            throw PgOutputError(.unknownMessage(tag), at: 0)
        }
        try r.expectEnd()
        return message
    }

    private static func optionalTimestamp(_ r: inout PgByteReader) throws(PgOutputError) -> Int64? {
        let t = try r.timestamp()
        return t == PostgresTimestamp.postgresEpochOffsetMicros ? nil : t
    }

    @discardableResult
    private static func expectMarker(_ r: inout PgByteReader, allowed: [UInt8]) throws(PgOutputError) -> UInt8 {
        let at = r.offset
        let marker = try r.uint8()
        guard allowed.contains(marker) else { throw PgOutputError(.unexpectedTupleMarker(marker), at: at) }
        return marker
    }

    private static func relation(_ r: inout PgByteReader) throws(PgOutputError) -> PgOutputMessage.Relation {
        let id = try r.uint32()
        let namespace = try r.cString()
        let name = try r.cString()
        let identityAt = r.offset
        let identityByte = try r.uint8()
        guard let identity = PgOutputMessage.Relation.ReplicaIdentity(rawValue: identityByte) else {
            throw PgOutputError(.unknownReplicaIdentity(identityByte), at: identityAt)
        }
        let count = try r.count16()
        var columns: [PgOutputMessage.Relation.Column] = []
        columns.reserveCapacity(min(count, r.remaining / 10))
        for _ in 0..<count {
            let flags = try r.uint8()
            let name = try r.cString()
            let oid = try r.uint32()
            columns.append(.init(flags: flags, name: name, typeOID: oid, typeModifier: try r.int32()))
        }
        return .init(id: id, namespace: namespace, name: name, replicaIdentity: identity, columns: columns)
    }

    private static func tuple(_ r: inout PgByteReader) throws(PgOutputError) -> PgTupleData {
        let count = try r.count16()
        var columns: [PgTupleColumn] = []
        columns.reserveCapacity(min(count, r.remaining))
        for _ in 0..<count {
            let at = r.offset
            let kind = try r.uint8()
            switch kind {
            case UInt8(ascii: "n"): columns.append(.null)
            case UInt8(ascii: "u"): columns.append(.unchangedToast)
            case UInt8(ascii: "t"): columns.append(.text(try r.bytes(count: try r.count32())))
            case UInt8(ascii: "b"): columns.append(.binary(try r.bytes(count: try r.count32())))
            default: throw PgOutputError(.unknownColumnKind(kind), at: at)
            }
        }
        return PgTupleData(columns: columns)
    }
}
