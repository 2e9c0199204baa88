import DeltaCore
import DeltaConnector

/// An open snapshot of a MariaDB server: one connection in `START TRANSACTION WITH CONSISTENT
/// SNAPSHOT`, whose `binlog_snapshot_file/position` status (converted with `BINLOG_GTID_POS`) is
/// the GTID state the snapshot corresponds to, so the stream continues with no gap and no
/// duplicate. Tables are read in key order in chunks (keyset pagination); the cursor is a JSON
/// array of the last row's key literals.
///
/// Invariants: all calls run on the reader's worker; the transaction stays open until ``close()``.
public final class MariaDBSnapshotReader: SnapshotReader {
    public let position: String
    let worker: BlockingWorker
    let state: State

    init(worker: BlockingWorker, state: State) {
        self.worker = worker
        self.state = state
        self.position = state.position.description
    }

    deinit {
        let (state, worker) = (self.state, self.worker)
        Task { _ = try? await worker.run { state.close() } }
    }

    /// The snapshot's connection and table shapes; touched only on the worker.
    final class State: @unchecked Sendable {
        let config: MariaDBStoreConfig
        var conn: MariaDBConnection?
        let position: MariaDBGTIDPosition
        let schemas: [String: MariaDBTableSchema]

        init(config: MariaDBStoreConfig, conn: MariaDBConnection, position: MariaDBGTIDPosition, schemas: [String: MariaDBTableSchema]) {
            self.config = config
            self.conn = conn
            self.position = position
            self.schemas = schemas
        }

        static func open(_ config: MariaDBStoreConfig, _ collections: [CollectionSpec]) throws -> State {
            let conn: MariaDBConnection
            do {
                conn = try MariaDBConnection.connect(config.url, readTimeout: 600)
            } catch {
                throw config.mapped(error, doing: "connecting to take a snapshot")
            }
            do {
                var schemas: [String: MariaDBTableSchema] = [:]
                for c in collections {
                    let name = try config.table(c.name)
                    guard let schema = try MariaDBTableSchema.load(conn, name, jsonColumns: c.jsonAttributes) else {
                        throw ConnectorError(.permanent, "\(config.label): table \(name) does not exist — create it, or fix the table name in the pipeline")
                    }
                    schemas[c.name] = schema
                }
                try conn.exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                try conn.exec("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                let status = try conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'")
                var file = "", offset = ""
                for i in status.rows.indices {
                    switch status.text(i, 0)?.lowercased() {
                    case "binlog_snapshot_file": file = status.text(i, 1) ?? ""
                    case "binlog_snapshot_position": offset = status.text(i, 1) ?? ""
                    default: break
                    }
                }
                guard !file.isEmpty, let pos = UInt64(offset) else {
                    throw ConnectorError(.permanent, "\(config.label): the server reports no binlog position for the snapshot — enable the binary log (log_bin in my.cnf, then restart)")
                }
                let gtid = try conn.scalar("SELECT BINLOG_GTID_POS(\(MariaDBSQL.string(file)), \(pos))") ?? ""
                guard let position = MariaDBGTIDPosition(gtid) else {
                    throw ConnectorError(.permanent, "\(config.label): BINLOG_GTID_POS returned '\(gtid)', not a GTID list")
                }
                return State(config: config, conn: conn, position: position, schemas: schemas)
            } catch let error as MariaDBServerError {
                conn.close()
                throw config.mapped(error, doing: "opening a consistent snapshot")
            } catch {
                conn.close()
                throw error
            }
        }

        func close() {
            if let conn, conn.isOpen { _ = try? conn.exec("COMMIT") }
            conn?.close()
            conn = nil
        }

        func chunk(_ collection: CollectionSpec, after cursor: [String]?, limit: Int) throws -> SnapshotChunk {
            guard let conn else { throw ConnectorError(.permanent, "\(config.label): the snapshot was already closed") }
            guard let schema = schemas[collection.name] else {
                throw ConnectorError(.permanent, "\(config.label): table '\(collection.name)' was not part of the snapshot")
            }
            let keys = collection.keyAttributes
            for k in keys where schema.column(k) == nil {
                throw ConnectorError(.permanent, "\(config.label): table \(schema.name) has no key column '\(k)' — fix the key in the pipeline's mapping")
            }
            var sql = "SELECT " + schema.columns.map(MariaDBValueMapping.selectExpression).joined(separator: ", ") + " FROM \(schema.name.sql)"
            if let cursor, cursor.count == keys.count {
                // (k1, k2) > (v1, v2) spelled out, which the optimizer turns into an index range.
                var ors: [String] = []
                for i in keys.indices {
                    var ands = (0..<i).map { "\(MariaDBSQL.ident(keys[$0])) = \(cursor[$0])" }
                    ands.append("\(MariaDBSQL.ident(keys[i])) > \(cursor[i])")
                    ors.append("(" + ands.joined(separator: " AND ") + ")")
                }
                sql += " WHERE " + ors.joined(separator: " OR ")
            }
            sql += " ORDER BY " + keys.map(MariaDBSQL.ident).joined(separator: ", ") + " LIMIT \(max(1, limit))"
            let result: MariaDBConnection.Result
            do throws(MariaDBServerError) {
                result = try conn.query(sql)
            } catch {
                if error.connectionLost {
                    throw ConnectorError(.transient, "\(config.label): the snapshot connection was lost while reading \(schema.name) (\(error.message)); the snapshot starts over")
                }
                throw config.mapped(error, doing: "reading table \(schema.name)")
            }
            let columns = result.columns.map { schema.column($0.name) }
            let names = result.columns.map(\.name)
            var rows: [RowChange] = []
            rows.reserveCapacity(result.rows.count)
            let timeColumn = config.timeColumn
            for row in result.rows {
                var attributes = [String: Value](minimumCapacity: names.count)
                for i in names.indices { attributes[names[i]] = MariaDBValueMapping.decode(row[i], columns[i]) }
                var time: Int64?
                if let timeColumn, case let .timestamp(t)? = attributes[timeColumn] { time = t }
                rows.append(RowChange(collection: collection.name, operation: .upsert, attributes: attributes, image: .full, commitTime: time))
            }
            var next: String?
            if result.rows.count >= limit, let last = rows.last {
                var literals: [Value] = []
                for k in keys {
                    guard let v = last.attributes[k], let text = try? MariaDBValueMapping.literal(v, schema.column(k)) else { break }
                    literals.append(.string(text))
                }
                next = try? JSONCodec.serialize(.array(literals))
            }
            return SnapshotChunk(rows: rows, cursor: next)
        }

        func estimatedCount(_ collection: CollectionSpec) throws -> Int? {
            guard let conn, let schema = schemas[collection.name] else { return nil }
            let n: String?? = try? conn.scalar("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(MariaDBSQL.string(schema.name.database)) AND TABLE_NAME = \(MariaDBSQL.string(schema.name.table))")
            guard let text = n ?? nil else { return nil }
            return Int(text)
        }
    }

    public func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk {
        var start: [String]?
        if let cursor {
            guard case let .array(parts)? = try? JSONCodec.parse(cursor), parts.count == collection.keyAttributes.count else {
                throw ConnectorError(.permanent, "'\(cursor)' is not a snapshot cursor of table '\(collection.name)' — restart the snapshot")
            }
            start = parts.map { if case let .string(s) = $0 { return s } else { return "NULL" } }
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
