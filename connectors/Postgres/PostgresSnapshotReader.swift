import DeltaCore
import DeltaConnector
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open snapshot of a PostgreSQL database: the replication slot was just created with
/// `SNAPSHOT 'export'`, and a second connection imported that snapshot in a `REPEATABLE READ`
/// transaction, so it sees exactly the state as of the slot's consistent point, which is
/// ``position``. Tables are read in key order in chunks (keyset pagination: `WHERE (key) > (last)
/// ORDER BY key LIMIT n`); the cursor is JSON of the last key values as PostgreSQL text.
///
/// Invariants: the replication connection that exported the snapshot stays open (idle) until
/// ``close()`` ends the snapshot transaction; all calls run on the reader's worker.
public final class PostgresSnapshotReader: SnapshotReader {
    public let position: String
    let worker: BlockingWorker
    let state: State
    let config: PostgresStoreConfig

    init(worker: BlockingWorker, state: State, config: PostgresStoreConfig) {
        self.worker = worker
        self.state = state
        self.config = config
        self.position = state.consistentPoint.description
    }

    deinit {
        let (state, worker) = (self.state, self.worker)
        Task { _ = try? await worker.run { state.close() } }
    }

    /// The snapshot's connections, table shapes and caches; touched only on the worker.
    final class State: @unchecked Sendable {
        let config: PostgresStoreConfig
        var replication: PGConnection?
        var snapshot: PGConnection?
        let consistentPoint: LSN
        let catalog: PostgresCatalog
        let schemas: [String: PostgresTableSchema]
        var warned = Set<String>()

        init(config: PostgresStoreConfig, replication: PGConnection, snapshot: PGConnection, consistentPoint: LSN,
             catalog: PostgresCatalog, schemas: [String: PostgresTableSchema]) {
            self.config = config
            self.replication = replication
            self.snapshot = snapshot
            self.consistentPoint = consistentPoint
            self.catalog = catalog
            self.schemas = schemas
        }

        /// Prepares publication and slot (dropping an existing slot: a snapshot starts over),
        /// creates the slot with an exported snapshot and imports it on a second connection.
        static func open(_ config: PostgresStoreConfig, _ collections: [CollectionSpec]) throws -> State {
            let admin = try PGConnection.connect(url: config.url, replication: false, store: config.store)
            defer { admin.close() }
            let catalog = PostgresCatalog()
            let schemas = try PostgresAdmin.requireTables(admin, config, collections, catalog: catalog)
            try PostgresAdmin.ensurePublication(admin, config, collections.map { config.table($0.name) })
            let existing: PostgresAdmin.SlotInfo?
            do throws(PostgresServerError) {
                existing = try PostgresAdmin.slot(admin, config.slot)
            } catch {
                throw PostgresAdmin.mapped(error, config, doing: "looking up replication slot '\(config.slot)'")
            }
            if existing != nil {
                config.warn("\(config.label): dropping replication slot '\(config.slot)' to take a new snapshot (no checkpoint: a first run or a resync)")
                try PostgresAdmin.dropSlot(admin, config)
            }

            var attempt = 1
            while true {
                let replication = try PGConnection.connect(url: config.url, replication: true, store: config.store)
                do throws(PostgresServerError) {
                    let (snapshot, point) = try createSlot(config, on: replication)
                    return State(config: config, replication: replication, snapshot: snapshot, consistentPoint: point, catalog: catalog, schemas: schemas)
                } catch {
                    replication.close()
                    if error.sqlState == "53400" {
                        throw ConnectorError(.permanent, "\(config.label): \(error.message) — raise max_replication_slots in postgresql.conf (and restart), or drop unused slots (SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active)")
                    }
                    // A serialization failure ("initial slot snapshot too large" while many
                    // transactions commit) is worth a new attempt, which usually succeeds; a slot
                    // left by a later step of this one is dropped first.
                    if error.sqlState == "40001", attempt < Self.slotAttempts {
                        config.warn("\(config.label): \(error.message) while creating replication slot '\(config.slot)' — trying again (\(attempt) of \(Self.slotAttempts))")
                        if (try? PostgresAdmin.slot(admin, config.slot)) != nil { try PostgresAdmin.dropSlot(admin, config) }
                        usleep(UInt32(100_000 * attempt))
                        attempt += 1
                        continue
                    }
                    throw PostgresAdmin.mapped(error, config, doing: "creating replication slot '\(config.slot)' with an exported snapshot")
                }
            }
        }

        /// How often slot creation is tried when the server reports a serialization failure.
        static let slotAttempts = 5

        /// Creates the slot with an exported snapshot on `replication` and imports that snapshot
        /// in a read-only repeatable-read transaction on a new connection.
        private static func createSlot(_ config: PostgresStoreConfig, on replication: PGConnection) throws(PostgresServerError) -> (PGConnection, LSN) {
            let command = replication.serverVersion >= 150000
                ? "CREATE_REPLICATION_SLOT \(config.slot) LOGICAL pgoutput (SNAPSHOT 'export')"
                : "CREATE_REPLICATION_SLOT \(config.slot) LOGICAL pgoutput EXPORT_SNAPSHOT"
            let created = try replication.exec(command)
            guard let point = created.value(0, 1).flatMap({ LSN($0) }), let name = created.value(0, 2) else {
                throw PostgresServerError(sqlState: "XX000", message: "CREATE_REPLICATION_SLOT returned no consistent point or snapshot name")
            }
            let snapshot: PGConnection
            do {
                snapshot = try PGConnection.connect(url: config.url, replication: false, store: config.store)
            } catch {
                throw PostgresServerError(sqlState: "", message: "\(error)", connectionLost: true)
            }
            do throws(PostgresServerError) {
                try snapshot.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                try snapshot.exec("SET TRANSACTION SNAPSHOT \(PostgresSQL.literal(name))")
            } catch {
                snapshot.close()
                throw error
            }
            return (snapshot, point)
        }

        func close() {
            if let snapshot, snapshot.isOpen { _ = try? snapshot.exec("COMMIT") }
            snapshot?.close()
            snapshot = nil
            replication?.close()
            replication = nil
        }

        func connection() throws -> PGConnection {
            guard let snapshot else {
                throw ConnectorError(.permanent, "\(config.label): the snapshot was already closed")
            }
            return snapshot
        }

        func chunk(_ collection: CollectionSpec, after cursor: [String]?, limit: Int) throws -> SnapshotChunk {
            let conn = try connection()
            guard let schema = schemas[collection.name] else {
                throw ConnectorError(.permanent, "\(config.label): table '\(collection.name)' was not part of the snapshot")
            }
            let keys = collection.keyAttributes
            let keyList = keys.map(PostgresSQL.ident).joined(separator: ", ")
            var sql = "SELECT * FROM \(PostgresSQL.table(schema.table))"
            if cursor != nil {
                let casts = keys.enumerated().map { i, k in "$\(i + 1)::\(schema.column(k)?.type.castName ?? "text")" }
                sql += " WHERE (\(keyList)) > (\(casts.joined(separator: ", ")))"
            }
            sql += " ORDER BY \(keyList) LIMIT \(max(1, limit))"
            let result: PGResult
            do throws(PostgresServerError) {
                result = try conn.exec(sql, cursor ?? [])
            } catch {
                if error.connectionLost {
                    throw ConnectorError(.transient, "\(config.label): the snapshot connection was lost while reading \(schema.table) (\(error.message)); the snapshot starts over")
                }
                throw PostgresAdmin.mapped(error, config, doing: "reading table \(schema.table)")
            }
            var types: [PostgresColumnType] = []
            var names: [String] = []
            for i in 0..<result.columnCount {
                let name = result.columnName(i)
                names.append(name)
                if let column = schema.column(name) {
                    types.append(column.type)
                } else {
                    types.append((try? catalog.columnType(result.columnType(i), conn)) ?? PostgresColumnType(oid: result.columnType(i), kind: .unknown("oid \(result.columnType(i))"), castName: "text"))
                }
            }
            let keyIndexes = keys.compactMap { names.firstIndex(of: $0) }
            // Every row has the same names: each row's attributes start as a copy of one
            // template and are filled by position, so no row hashes a name.
            var template = [String: Value](minimumCapacity: names.count)
            for name in names { template[name] = .null }
            let positions = names.map { template.index(forKey: $0)! }
            let distinct = template.count == names.count
            var rows: [RowChange] = []
            rows.reserveCapacity(result.rowCount)
            for row in 0..<result.rowCount {
                var attributes = template
                for i in 0..<names.count {
                    guard let decoded = result.withValue(row, i, { $0.map(types[i].decode(utf8:)) }) else {
                        if !distinct { attributes[names[i]] = .null }
                        continue
                    }
                    if decoded.isFallback, warned.insert(names[i]).inserted {
                        config.warn("\(config.label): column \(schema.table).\(names[i]): type \(types[i].displayName) is not mapped or a value did not parse; its values are read as text")
                    }
                    if distinct {
                        attributes.values[positions[i]] = decoded.value
                    } else {
                        attributes[names[i]] = decoded.value
                    }
                }
                rows.append(RowChange(collection: collection.name, operation: .upsert, attributes: attributes, image: .full))
            }
            var next: String?
            if result.rowCount >= limit, result.rowCount > 0 {
                let last = keyIndexes.map { Value.string(result.value(result.rowCount - 1, $0) ?? "") }
                next = try? JSONCodec.serialize(.array(last))
            }
            return SnapshotChunk(rows: rows, cursor: next)
        }

        func estimatedCount(_ collection: CollectionSpec) throws -> Int? {
            let conn = try connection()
            guard let schema = schemas[collection.name] else { return nil }
            let r: PGResult
            do {
                r = try conn.exec("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)", [PostgresSQL.table(schema.table)])
            } catch {
                return nil
            }
            if let n = r.value(0, 0).flatMap({ Int($0) }), n >= 0 { return n }
            // Never analyzed: count in the snapshot.
            let counted = try? conn.exec("SELECT count(*) FROM \(PostgresSQL.table(schema.table))")
            return counted?.value(0, 0).flatMap { Int($0) }
        }
    }

    public func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk {
        var start: [String]?
        if let cursor {
            guard case let .array(parts)? = try? JSONCodec.parse(cursor), parts.count == collection.keyAttributes.count else {
                throw ConnectorError(.permanent, "'\(cursor)' is not a snapshot cursor of table '\(collection.name)' — restart the snapshot")
            }
            start = parts.map { if case let .string(s) = $0 { return s } else { return $0.description } }
        }
        let state = self.state
        let from = start
        return try await worker.run { try state.chunk(collection, after: from, limit: max(1, limit)) }
    }

    public func estimatedCount(_ collection: CollectionSpec) async throws -> Int? {
        let state = self.state
        return try await worker.run { try state.estimatedCount(collection) }
    }

    public func close() async {
        let state = self.state
        _ = try? await worker.run { state.close() }
    }
}
