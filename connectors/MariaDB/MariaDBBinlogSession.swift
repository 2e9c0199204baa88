import CMariaDB
import DeltaCore
import DeltaConnector

/// One binlog dump of a source: a replica connection that resumes from a GTID state
/// (`@slave_connect_state`), decodes events with this module's own decoders and assembles the
/// changes of the flow's tables into ``SourceBatch``es that end on transaction boundaries.
///
/// Positions are the GTID state after the last complete transaction (``MariaDBGTIDPosition``).
/// A transaction of more than ``batchLimit`` changes goes out in parts whose position is the
/// previous transaction's plus the count of the transaction's changes delivered, so a stream
/// resumed in the middle (after a crash or a lost connection) reads the transaction again but
/// skips what was delivered, instead of replaying stale intermediate values. Rows written by sessions
/// with `skip_replication=1` (the sink's) arrive flagged and are delivered as echoes.
///
/// Invariant: every method runs on the owning stream's worker (libmariadb is not thread-safe).
final class MariaDBBinlogSession: @unchecked Sendable {
    let config: MariaDBStoreConfig
    let collections: [CollectionSpec]
    let follow: Bool
    let batchLimit: Int

    /// Idle batches that only move the position forward go out at most this often (ms).
    static let idleAdvanceInterval: Int64 = 2_000
    /// The server sends a heartbeat after this much silence (ns), which bounds a blocking read.
    static let heartbeatNanoseconds: UInt64 = 500_000_000

    private var conn: MariaDBConnection?
    private var admin: MariaDBConnection?
    private var rpl: UnsafeMutablePointer<MARIADB_RPL>?
    private var event: UnsafeMutablePointer<MARIADB_RPL_EVENT>?
    private let catalog = MariaDBCatalog()
    private var checksum = true
    private var maps: [UInt64: BinlogTableMap] = [:]
    /// Collection name by table, for the tables the flow reads.
    private var wanted: [MariaDBTableName: CollectionSpec] = [:]
    private var semantics: [MariaDBTableName: [String: MariaDBSemanticType]] = [:]

    /// The GTID state after the last complete transaction read.
    private var state: MariaDBGTIDPosition
    private(set) var lastYielded: MariaDBGTIDPosition
    private var pending: [RowChange] = []
    private var pendingPosition: MariaDBGTIDPosition
    private var transaction: Transaction?
    /// The transaction to resume inside, and how many of its changes to skip.
    private var resumePartial: MariaDBGTIDPosition.Partial?
    /// Set when the last batch handed out ended inside a transaction.
    private var lastYieldedPartial: MariaDBGTIDPosition.Partial?
    private var started = false
    private(set) var finished = false
    private(set) var closed = false
    private var announcedCaughtUp = false
    private var lastIdleAdvanceAt: Int64 = 0

    private struct Transaction {
        var gtid: MariaDBGTIDPosition.GTID
        var standalone: Bool
        var changes: [RowChange]
        /// Changes delivered before a resume, still to be skipped.
        var skipFirst = 0
        /// Changes handed out in parts so far (including skipped ones).
        var delivered = 0
    }

    enum Step: Sendable {
        case batch(SourceBatch)
        case nothing
        case finished
    }

    init(config: MariaDBStoreConfig, collections: [CollectionSpec], after: MariaDBGTIDPosition, follow: Bool, batchLimit: Int) throws {
        self.config = config
        self.collections = collections
        self.follow = follow
        self.batchLimit = max(1, batchLimit)
        var committed = after
        committed.partial = nil
        self.state = committed
        self.lastYielded = committed
        self.pendingPosition = committed
        self.resumePartial = after.partial
        self.lastYieldedPartial = after.partial
        for c in collections { wanted[try config.table(c.name)] = c }
    }

    deinit { closeConnections() }

    func close() {
        guard !closed else { return }
        closeConnections()
        closed = true
    }

    private func closeConnections() {
        if let event { mariadb_free_rpl_event(event) }
        event = nil
        if let rpl { mariadb_rpl_close(rpl) }
        rpl = nil
        conn?.close()
        conn = nil
        admin?.close()
        admin = nil
    }

    /// Drops the connections and unconfirmed assembly state, to start again from the last
    /// yielded position (after a lost connection).
    func resetForReconnect() {
        closeConnections()
        started = false
        maps = [:]
        catalog.forget()
        state = lastYielded
        pendingPosition = lastYielded
        resumePartial = lastYieldedPartial
        pending = []
        transaction = nil
    }

    // MARK: Starting

    private func start() throws {
        let admin: MariaDBConnection
        let conn: MariaDBConnection
        do {
            admin = try MariaDBConnection.connect(config.url)
            conn = try MariaDBConnection.connect(config.url, readTimeout: 30)
        } catch {
            throw config.mapped(error, doing: "connecting to read the binlog")
        }
        self.admin = admin
        self.conn = conn
        for (table, spec) in wanted {
            let schema: MariaDBTableSchema?
            do { schema = try catalog.table(table, admin, jsonColumns: spec.jsonAttributes) } catch { throw config.mapped(error, doing: "reading the shape of \(table)") }
            semantics[table] = schema?.semantics ?? [:]
        }
        let serverID = config.replicaServerID(for: collections)
        do throws(MariaDBServerError) {
            checksum = (try conn.scalar("SELECT @@global.binlog_checksum"))?.uppercased() != "NONE"
            try conn.exec("SET @master_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4")
            try conn.exec("SET @slave_connect_state = \(MariaDBSQL.string(state.gtidList)), @slave_gtid_strict_mode = 0, @slave_gtid_ignore_duplicates = 0")
            try conn.exec("SET @master_heartbeat_period = \(Self.heartbeatNanoseconds)")
        } catch {
            throw config.mapped(error, doing: "preparing the binlog dump")
        }
        guard let handle = conn.handle, let rpl = mariadb_rpl_init_ex(handle, UInt32(MARIADB_RPL_VERSION)) else {
            throw ConnectorError(.transient, "\(config.label): libmariadb could not start a replication handle")
        }
        self.rpl = rpl
        rpl.pointee.server_id = serverID
        rpl.pointee.start_position = 4
        rpl.pointee.filename = nil
        rpl.pointee.filename_length = 0
        rpl.pointee.flags = follow ? 0 : UInt16(MARIADB_RPL_BINLOG_DUMP_NON_BLOCK)
        if mariadb_rpl_open(rpl) != 0 {
            throw streamError(doing: "starting the binlog dump from \(state)")
        }
        started = true
    }

    /// The error of the replication connection, classified.
    private func streamError(doing: String) -> ConnectorError {
        var code: UInt32 = 0
        var message = ""
        if let handle = conn?.handle {
            code = mysql_errno(handle)
            message = String(cString: mysql_error(handle))
        }
        if let rpl, code == 0 {
            code = mariadb_rpl_errno(rpl)
            message = String(cString: mariadb_rpl_error(rpl))
        }
        if code == 1236 {
            let lower = message.lowercased()
            if lower.contains("gtid") || lower.contains("purged") || lower.contains("could not find") {
                return config.positionLost("the binlog no longer holds GTID \(state.gtidList.isEmpty ? "(start of the binlog)" : state.gtidList) (\(message))")
            }
        }
        let error = MariaDBServerError(code: code, message: message.isEmpty ? "the replication stream ended" : message)
        if error.connectionLost || code == 0 || code == 2013 || code == 2006 {
            return ConnectorError(.transient, "\(config.label): replication connection lost while \(doing): \(error)")
        }
        if code == 1236 && message.contains("same server_uuid/server_id") {
            // The dump thread of a reader that died (kill -9) is still registered; the server
            // drops it when the next reader with that id connects.
            return ConnectorError(.transient, "\(config.label): the server still has a reader with server_id \(config.replicaServerID(for: collections)) (a previous bridge process?) — retrying; if another replica uses that id, set `server_id`")
        }
        if code == 1236 {
            return ConnectorError(.permanent, "\(config.label): the server stopped the binlog dump while \(doing): \(message) — check binlog_format=ROW and that server_id \(config.replicaServerID(for: collections)) is not used by another replica (set `server_id`)")
        }
        return config.mapped(error, doing: doing)
    }

    // MARK: Streaming

    /// Whether the replication socket has data within `ms` milliseconds.
    private func readable(within ms: Int32) -> Bool {
        guard let handle = conn?.handle else { return false }
        var fd = pollfd(fd: Int32(mysql_get_socket(handle)), events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, ms) > 0
    }

    /// Reads events until a batch is ready, the server goes quiet (heartbeat), or the dump ends.
    func step() throws -> Step {
        if finished || closed { return .finished }
        if !started { try start() }
        guard let rpl else { return .finished }
        while true {
            if transaction == nil, !pending.isEmpty || (pendingPosition != lastYielded && MonotonicClock.milliseconds() - lastIdleAdvanceAt >= Self.idleAdvanceInterval),
               !readable(within: 2) {
                lastIdleAdvanceAt = MonotonicClock.milliseconds()
                return .batch(emit(position: pendingPosition, caughtUp: false))
            }
            guard let fetched = mariadb_rpl_fetch(rpl, event) else {
                // A failed fetch frees the event it was given.
                event = nil
                let error = streamError(doing: "reading the binlog after \(state)")
                if !follow, error.kind == .transient, let handle = conn?.handle, mysql_errno(handle) == 0 {
                    // The non-blocking dump reached the end of the binlog.
                    finished = true
                    if transaction != nil {
                        // Ended inside a transaction: keep the position of what was handed out.
                        var position = lastYielded
                        position.partial = lastYieldedPartial
                        let batch = SourceBatch(changes: pending, position: position.description, caughtUp: true)
                        pending = []
                        return .batch(batch)
                    }
                    return .batch(emit(position: pendingPosition, caughtUp: true))
                }
                throw error
            }
            event = fetched
            let raw = fetched.pointee.raw_data
            let size = fetched.pointee.raw_data_size
            guard let raw, size > 20 else { continue }
            // raw_data starts with the packet's OK byte.
            let bytes = Array(UnsafeBufferPointer(start: raw + 1, count: size - 1))
            let decoded: BinlogEvent
            do {
                decoded = try BinlogEvent.decode(bytes, checksum: checksum)
            } catch {
                throw ConnectorError(.permanent, "\(config.label): cannot decode a binlog event after \(state): \(error)")
            }
            if let step = try handle(decoded) { return step }
        }
    }

    private func handle(_ e: BinlogEvent) throws -> Step? {
        switch e.body {
        case let .formatDescription(c):
            checksum = c
        case let .gtid(domain, sequence, standalone):
            var tx = Transaction(gtid: .init(domain: domain, server: e.header.serverID, sequence: sequence), standalone: standalone, changes: [])
            if let partial = resumePartial, partial.transaction == tx.gtid {
                tx.skipFirst = partial.delivered
                tx.delivered = partial.delivered
            }
            transaction = tx
        case let .tableMap(map):
            maps[map.tableID] = map
        case let .rows(rows):
            guard var tx = transaction else { return nil }
            guard let map = maps[rows.tableID] else {
                throw ConnectorError(.transient, "\(config.label): a row event for an unknown table id \(rows.tableID) after \(state); re-reading")
            }
            let table = MariaDBTableName(database: map.database, table: map.table)
            guard let spec = wanted[table] else { return nil }
            let decoded: [BinlogRowsDecoder.Row]
            do {
                decoded = try BinlogRowsDecoder.decode(rows, map, semantics: semantics[table] ?? [:])
            } catch {
                throw ConnectorError(.permanent, "\(config.label): cannot decode a row of \(table) in transaction \(tx.gtid): \(error)")
            }
            var fresh = changes(decoded, spec, columns: map.columns.count, time: Int64(e.header.timestamp) * 1_000_000, echo: e.header.skipReplication)
            if tx.skipFirst > 0 {
                // Delivered before the resume (the server sends the transaction whole again).
                let drop = min(tx.skipFirst, fresh.count)
                fresh.removeFirst(drop)
                tx.skipFirst -= drop
            }
            // `tx` becomes the changes' one owner while they grow: appending to a copy still
            // shared with `transaction` would copy them all on every row event.
            transaction = nil
            tx.changes += fresh
            transaction = tx
            if rows.statementEnd { maps = [:] }
            if pending.count + tx.changes.count >= batchLimit {
                // A large transaction: hand out what we have, at the previous commit's position
                // plus the count of this transaction's changes delivered.
                var part = pending
                part += tx.changes
                let partial = MariaDBGTIDPosition.Partial(transaction: tx.gtid, delivered: tx.delivered + tx.changes.count)
                pending = []
                transaction?.changes = []
                transaction?.delivered = partial.delivered
                lastYielded = pendingPosition
                lastYieldedPartial = partial
                var position = pendingPosition
                position.partial = partial
                return .batch(SourceBatch(changes: part, position: position.description, caughtUp: false))
            }
        case .xid:
            return commit()
        case let .query(database, sql):
            let trimmed = sql.drop { $0 == " " || $0 == "\n" }.uppercased()
            if trimmed.hasPrefix("BEGIN") { return nil }
            if trimmed.hasPrefix("COMMIT") { return commit() }
            ddl(database: database, sql: sql)
            if transaction?.standalone ?? true { return commit() }
        case .heartbeat:
            return idle()
        case .rotate, .other:
            break
        }
        return nil
    }

    /// The row changes of one rows event; an image without every column of the table is partial.
    private func changes(_ rows: [BinlogRowsDecoder.Row], _ spec: CollectionSpec, columns: Int, time: Int64, echo: Bool) -> [RowChange] {
        var out: [RowChange] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            if let after = row.after {
                var attributes = after
                let image: RowChange.Image = after.count < columns ? .partial : .full
                if let before = row.before {
                    // A MINIMAL image may leave the key out of the after image.
                    for k in spec.keyAttributes where attributes[k] == nil { attributes[k] = before[k] }
                    if spec.keyAttributes.contains(where: { before[$0] != nil && before[$0] != attributes[$0] }) {
                        // The key changed: the old document is gone.
                        var old: [String: Value] = [:]
                        for k in spec.keyAttributes { old[k] = before[k] }
                        out.append(RowChange(collection: spec.name, operation: .delete, attributes: old, commitTime: time, isEcho: echo))
                    }
                }
                out.append(RowChange(collection: spec.name, operation: .upsert, attributes: attributes, image: image,
                                     commitTime: timeOf(attributes) ?? time, isEcho: echo))
            } else if let before = row.before {
                var key: [String: Value] = [:]
                for k in spec.keyAttributes { key[k] = before[k] }
                out.append(RowChange(collection: spec.name, operation: .delete, attributes: key.isEmpty ? before : key, commitTime: time, isEcho: echo))
            }
        }
        return out
    }

    private func timeOf(_ attributes: [String: Value]) -> Int64? {
        guard let column = config.timeColumn, case let .timestamp(t)? = attributes[column] else { return nil }
        return t
    }

    /// A DDL statement: table shapes are read again; statements that touch a flow table are logged.
    private func ddl(database: String, sql: String) {
        catalog.forget()
        guard let admin else { return }
        for (table, spec) in wanted {
            if let schema = try? catalog.table(table, admin, jsonColumns: spec.jsonAttributes) { semantics[table] = schema.semantics }
        }
        let upper = sql.uppercased()
        let known = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "FLUSH", "ANALYZE", "OPTIMIZE", "SET", "SAVEPOINT", "ROLLBACK", "XA"]
        let first = upper.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init) ?? ""
        // A statement touches a synced table when it names it in its session's database, or
        // qualified with the table's database.
        let touches = wanted.keys.contains { t in
            let table = t.table.uppercased(), db = t.database.uppercased()
            return (database == t.database && upper.contains(table)) || upper.contains(db + "." + table) || upper.contains("`" + db + "`.`" + table + "`")
        }
        if touches && ["INSERT", "UPDATE", "DELETE", "REPLACE"].contains(first) {
            config.warn("\(config.label): a change to a synced table was logged as a statement, not as rows (a session with binlog_format=STATEMENT or MIXED), so it cannot be replicated — keep binlog_format=ROW for every session, and run `deltabridge resync` for that flow (statement: \(sql.prefix(120)))")
        } else if touches && (first == "TRUNCATE" || first == "DROP") {
            config.warn("\(config.label): \(first) on a synced table is not replicated as row deletes (statement: \(sql.prefix(120)))")
        } else if !known.contains(first) && !["INSERT", "UPDATE", "DELETE", "REPLACE"].contains(first) && wanted.keys.contains(where: { $0.database == database }) {
            config.warn("\(config.label): skipped an unknown statement in the binlog: \(sql.prefix(120))")
        }
    }

    private func commit() -> Step? {
        guard let tx = transaction else { return nil }
        transaction = nil
        if resumePartial?.transaction == tx.gtid { resumePartial = nil }
        state.record(tx.gtid)
        pending += tx.changes
        pendingPosition = state
        if pending.count >= batchLimit {
            return .batch(emit(position: pendingPosition, caughtUp: false))
        }
        return nil
    }

    /// A heartbeat: the server has nothing newer. Hands out what is pending; a position that only
    /// moved (transactions of other tables) at most every ``idleAdvanceInterval``.
    private func idle() -> Step? {
        guard transaction == nil else { return nil }
        let now = MonotonicClock.milliseconds()
        if !pending.isEmpty || !announcedCaughtUp || (pendingPosition != lastYielded && now - lastIdleAdvanceAt >= Self.idleAdvanceInterval) {
            lastIdleAdvanceAt = now
            announcedCaughtUp = true
            return .batch(emit(position: pendingPosition, caughtUp: true))
        }
        return .nothing
    }

    private func emit(position: MariaDBGTIDPosition, caughtUp: Bool) -> SourceBatch {
        let batch = SourceBatch(changes: pending, position: position.description, caughtUp: caughtUp)
        pending = []
        pendingPosition = position
        lastYielded = position
        lastYieldedPartial = nil
        return batch
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
