import DeltaCore
import DeltaConnector
import SQLiteSupport

/// An open snapshot of a SQLite database: a read transaction on a connection of its own, begun
/// with the change-log head read in the same transaction, so it sees exactly the state as of
/// ``position``. Tables are read in key order (`ORDER BY` the key columns) in chunks; the cursor is
/// JSON of the last key values read, typed as in change-log images.
///
/// Invariants: all calls run on the source's worker; rows whose key holds NULL are skipped (they
/// cannot be addressed by key); after ``close()`` reads fail.
public final class SQLiteSnapshotReader: SnapshotReader {
    public let position: String
    let path: String
    let worker: BlockingWorker
    let state: State

    /// The snapshot's connection and its cached statements; touched only on the worker.
    final class State: @unchecked Sendable {
        var db: SQLiteDatabase?
        var statements: [String: SQLiteStatement] = [:]

        init(_ db: SQLiteDatabase) { self.db = db }

        func statement(_ sql: String) throws -> SQLiteStatement {
            if let cached = statements[sql] { return cached }
            guard let db else { throw ConnectorError(.permanent, "the SQLite snapshot was already closed") }
            let prepared = try db.prepare(sql)
            statements[sql] = prepared
            return prepared
        }

        func close() {
            statements = [:]
            if let db, db.isInTransaction { try? db.execute("COMMIT") }
            db = nil
        }
    }

    init(worker: BlockingWorker, state: State, path: String, position: String) {
        self.worker = worker
        self.state = state
        self.path = path
        self.position = position
    }

    deinit {
        // Ends the read transaction if the engine forgot to close (the connection closes with it).
        let state = self.state
        Task { [worker] in _ = try? await worker.run { state.close() } }
    }

    public func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk {
        let (state, path) = (self.state, self.path)
        var after: [SQLiteStatement.Binding]?
        if let cursor {
            guard let keys = SQLiteValueMapping.decodeCursor(cursor), keys.count == collection.keyAttributes.count else {
                throw ConnectorError(.permanent, "'\(cursor)' is not a snapshot cursor of table '\(collection.name)' — restart the snapshot")
            }
            after = keys
        }
        let start = after
        return try await withBusyRetry(path: path, doing: "reading table '\(collection.name)'") { [worker] in
            try await worker.run {
                do {
                    return try Self.readChunk(state, collection, after: start, limit: max(1, limit))
                } catch let error as SQLiteError where !error.isTransient {
                    throw SQLiteErrors.map(error, path: path, doing: "reading table '\(collection.name)'")
                }
            }
        }
    }

    static func chunkSQL(_ collection: CollectionSpec, withCursor: Bool) -> String {
        let keys = collection.keyAttributes.map(SQLiteSchema.ident)
        var conditions = keys.map { "\($0) IS NOT NULL" }
        if withCursor {
            conditions.append("(" + keys.joined(separator: ", ") + ") > (" + keys.indices.map { "?\($0 + 1)" }.joined(separator: ", ") + ")")
        }
        return "SELECT * FROM \(SQLiteSchema.ident(collection.name)) WHERE " + conditions.joined(separator: " AND ")
            + " ORDER BY " + keys.joined(separator: ", ") + " LIMIT ?\(keys.count + 1)"
    }

    static func readChunk(_ state: State, _ collection: CollectionSpec, after cursor: [SQLiteStatement.Binding]?, limit: Int) throws -> SnapshotChunk {
        let s = try state.statement(chunkSQL(collection, withCursor: cursor != nil))
        defer { s.reset() }
        var bindings = cursor ?? []
        while bindings.count < collection.keyAttributes.count { bindings.append(.null) }
        try s.bind(bindings + [.int(Int64(limit))])
        var keyIndexes: [Int32] = []
        var layout: SQLiteValueMapping.RowLayout?
        var rows: [RowChange] = []
        rows.reserveCapacity(limit)
        var lastKey: [SQLiteStatement.Binding] = []
        while try s.step() {
            if keyIndexes.isEmpty {
                var byName: [String: Int32] = [:]
                for i in 0..<s.columnCount { byName[s.columnName(i)] = i }
                keyIndexes = collection.keyAttributes.compactMap { byName[$0] }
                guard keyIndexes.count == collection.keyAttributes.count else {
                    throw ConnectorError(.permanent, "table '\(collection.name)' lacks a key column of \(collection.keyAttributes) — fix the key in the mapping")
                }
                layout = SQLiteValueMapping.RowLayout(s, jsonColumns: collection.jsonAttributes)
            }
            rows.append(RowChange(collection: collection.name, operation: .upsert,
                                  attributes: SQLiteValueMapping.row(s, layout!), image: .full))
            lastKey = keyIndexes.map { s.value($0) }
        }
        let next = rows.count < limit ? nil : SQLiteValueMapping.encodeCursor(lastKey)
        return SnapshotChunk(rows: rows, cursor: next)
    }

    public func estimatedCount(_ collection: CollectionSpec) async throws -> Int? {
        let (state, path) = (self.state, self.path)
        return try await withBusyRetry(path: path, doing: "counting table '\(collection.name)'") { [worker] in
            try await worker.run {
                let s = try state.statement("SELECT count(*) FROM \(SQLiteSchema.ident(collection.name))")
                defer { s.reset() }
                guard try s.step() else { return nil }
                return Int(s.int64(0))
            }
        }
    }

    public func close() async {
        let state = self.state
        _ = try? await worker.run { state.close() }
    }
}
