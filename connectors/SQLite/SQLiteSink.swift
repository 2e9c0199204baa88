import DeltaCore
import DeltaConnector
import SQLiteSupport

/// Writes document patches into a SQLite database: each batch in one `BEGIN IMMEDIATE`
/// transaction, each patch in a savepoint of its own, with prepared statements cached per table
/// and column set.
///
/// Invariants: all SQLite calls run on this sink's ``BlockingWorker``; a rejected patch leaves no
/// trace while the others of its batch still apply; when the database has the source's change log,
/// every change-log row the batch produced is marked `echo = 1` before COMMIT (rule 7: SQLite has
/// one writer, so within the write transaction every new change-log row is the bridge's own).
public final class SQLiteSink: SinkConnector {
    public let store: StoreID
    /// The database file (already resolved against the pipeline file's folder). Never created.
    public let path: String
    public let busyTimeoutMilliseconds: Int32

    let worker: BlockingWorker
    let state: State

    public init(store: StoreID, path: String, busyTimeoutMilliseconds: Int32 = 5_000, initSQL: String? = nil) {
        self.store = store
        self.path = path
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.worker = BlockingWorker(label: "sqlite-sink.\(store.name)")
        self.state = State(slot: SQLiteConnectionSlot(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, initSQL: initSQL))
    }

    /// Tells the sink the collections it writes, so that it knows their JSON attributes (which
    /// ``DocumentPatch`` does not carry). ``read(_:keys:)`` and ``validate(collections:asSource:asSink:)``
    /// register their collections too. Without it, values are written as in non-JSON columns.
    public func prepare(collections: [CollectionSpec]) async throws {
        let state = self.state
        try await worker.run { state.register(collections) }
    }

    public func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult] {
        if patches.isEmpty { return [] }
        let state = self.state
        return try await worker.run { try state.apply(patches) }
    }

    public func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?] {
        let state = self.state
        return try await withBusyRetry(path: path, doing: "reading table '\(collection.name)'") { [worker] in
            try await worker.run { try state.read(collection, keys: keys) }
        }
    }

    /// The sink's connection, caches and knowledge of JSON attributes; touched only on the worker.
    final class State: @unchecked Sendable {
        let slot: SQLiteConnectionSlot
        var jsonColumns: [String: Set<String>] = [:]
        private var schemas: [String: SQLiteTableSchema] = [:]
        private var schemaVersion: Int64 = -1

        init(slot: SQLiteConnectionSlot) { self.slot = slot }

        var path: String { slot.path }

        func register(_ collections: [CollectionSpec]) {
            for c in collections { jsonColumns[c.name] = c.jsonAttributes }
            plans = [:]
            lastPlan = nil
        }

        /// Forgets cached schemas and statements when another connection changed the schema.
        private func refresh(_ db: SQLiteDatabase) throws {
            let version = try SQLiteSchema.schemaVersion(db)
            if version != schemaVersion || slot.generation != plansGeneration {
                schemas = [:]
                plans = [:]
                lastPlan = nil
                slot.dropStatements()
                schemaVersion = version
                plansGeneration = slot.generation
            }
        }

        /// What writing a table by one key needs, worked out once per table and schema version:
        /// the checks of a key, and the statement that writes a whole row (`replace`).
        struct TablePlan {
            let schema: SQLiteTableSchema
            let json: Set<String>
            let keyNames: [String]
            let keySet: Set<String>
            /// True when the key columns exist but are neither the primary key nor UNIQUE.
            let lacksUniqueKey: Bool
            /// Every column but the key, in table order, and the upsert that writes them.
            let replaceColumns: [String]
            let replaceJSON: [Bool]
            let replaceSQL: String
        }

        private var plans: [String: TablePlan] = [:]
        private var plansGeneration = -1

        private func plan(_ db: SQLiteDatabase, _ table: String, keyNames: [String]) throws -> TablePlan {
            if let last = lastPlan, last.table == table, last.plan.keyNames == keyNames { return last.plan }
            if let cached = plans[table], cached.keyNames == keyNames {
                lastPlan = (table, cached)
                return cached
            }
            let schema = try schema(db, table)
            let keySet = Set(keyNames)
            let json = jsonColumns[table] ?? []
            let replaceColumns = schema.columns.filter { !keySet.contains($0) }
            let plan = TablePlan(schema: schema, json: json, keyNames: keyNames, keySet: keySet,
                                 lacksUniqueKey: !keyNames.isEmpty && keyNames.allSatisfy(schema.hasColumn) && !schema.isUniqueKey(keyNames),
                                 replaceColumns: replaceColumns, replaceJSON: replaceColumns.map(json.contains),
                                 replaceSQL: Self.upsertSQL(table, keys: keyNames, columns: replaceColumns))
            plans[table] = plan
            lastPlan = (table, plan)
            return plan
        }

        /// The plan used last (consecutive patches are usually of one table).
        private var lastPlan: (table: String, plan: TablePlan)?

        private func schema(_ db: SQLiteDatabase, _ table: String) throws -> SQLiteTableSchema {
            if let cached = schemas[table] { return cached }
            guard let schema = try SQLiteSchema.table(db, table) else {
                throw ConnectorError(.permanent, "table '\(table)' does not exist in SQLite database '\(path)' — create it or fix the table name in the mapping")
            }
            schemas[table] = schema
            return schema
        }

        // MARK: apply

        func apply(_ patches: [DocumentPatch]) throws -> [PatchResult] {
            try slot.verifyFile()
            let db = try slot.open()
            do {
                try db.execute("BEGIN IMMEDIATE")
            } catch {
                throw SQLiteErrors.map(error, path: path, doing: "starting a write transaction")
            }
            do {
                try refresh(db)
                let hasChangeLog = try SQLiteChangeLog.exists(db)
                let before = hasChangeLog ? try SQLiteChangeLog.head(db) : 0
                var results: [PatchResult] = []
                results.reserveCapacity(patches.count)
                // Patches run in groups under one savepoint; when the store refuses one of them,
                // the group is rolled back and run again with a savepoint per patch, so that the
                // refused ones alone are left out (refusals are rare: one savepoint per patch
                // cost a third of the sink's time).
                for start in stride(from: 0, to: patches.count, by: Self.patchesPerGroup) {
                    let group = patches[start..<min(patches.count, start + Self.patchesPerGroup)]
                    try slot.statement("SAVEPOINT deltabridge_group").run()
                    var groupResults: [PatchResult] = []
                    groupResults.reserveCapacity(group.count)
                    do {
                        for patch in group { groupResults.append(try applyOne(db, patch, isolated: false)) }
                        try slot.statement("RELEASE deltabridge_group").run()
                    } catch is RefusedInGroup {
                        try slot.statement("ROLLBACK TO deltabridge_group").run()
                        try slot.statement("RELEASE deltabridge_group").run()
                        groupResults = []
                        for patch in group { groupResults.append(try applyOne(db, patch, isolated: true)) }
                    }
                    results += groupResults
                }
                if hasChangeLog {
                    try slot.statement("UPDATE _deltabridge_changes SET echo = 1 WHERE seq > ?1").run([.int(before)])
                }
                try db.execute("COMMIT")
                return results
            } catch {
                if db.isInTransaction { try? db.execute("ROLLBACK") }
                if let e = error as? SQLiteError,
                   [SQLiteCode.ioError, SQLiteCode.cantOpen, SQLiteCode.corrupt, SQLiteCode.notADatabase].contains(e.primaryCode) {
                    slot.close()  // the file may have been replaced: reopen on the next batch
                }
                throw SQLiteErrors.map(error, path: path, doing: "applying a batch")
            }
        }

        /// A patch that cannot be written, with the reason for the dead-letter table.
        private struct Rejection: Error { let reason: String }

        /// The store refused a patch of a group run without a savepoint per patch.
        private struct RefusedInGroup: Error {}

        /// Patches under one savepoint (see ``apply(_:)``).
        static let patchesPerGroup = 500

        /// Applies one patch; `isolated`: in a savepoint of its own, so that a refusal becomes
        /// `.rejected` — otherwise a refusal throws ``RefusedInGroup``.
        private func applyOne(_ db: SQLiteDatabase, _ patch: DocumentPatch, isolated: Bool) throws -> PatchResult {
            let table = patch.collection
            let keyNames = patch.key.count == 1 ? [patch.key.first!.key] : patch.key.keys.sorted()
            let plan = try plan(db, table, keyNames: keyNames)
            let schema = plan.schema
            let json = plan.json
            var keyText: String { Value.object(patch.key).description }
            func bind(_ column: String, _ value: Value) throws(Rejection) -> SQLiteStatement.Binding {
                do {
                    return try SQLiteValueMapping.binding(value, json: json.contains(column))
                } catch {
                    throw Rejection(reason: "table '\(table)', key \(keyText), column '\(column)': cannot store \(error.reason)")
                }
            }
            func requireColumn(_ column: String) throws(Rejection) {
                guard schema.hasColumn(column) else {
                    throw Rejection(reason: "table '\(table)', key \(keyText): no column '\(column)' — add it (ALTER TABLE \(table) ADD COLUMN \(column)) or leave it out of the mapping")
                }
            }

            if patch.action != .delete && plan.lacksUniqueKey {
                throw ConnectorError(.permanent, "table '\(table)' in '\(path)' has no PRIMARY KEY or UNIQUE index on (\(keyNames.joined(separator: ", "))), which writing by key needs — CREATE UNIQUE INDEX on those columns, or fix the key in the mapping")
            }
            let sql: String
            // For partial updates: UPDATE by key first, INSERT only when no row matched. (SQLite
            // checks NOT NULL on the INSERT half of an upsert before it notices the conflict.)
            var updateFirst: String?
            var bindings: [SQLiteStatement.Binding] = []
            do throws(Rejection) {
                guard !keyNames.isEmpty else { throw Rejection(reason: "table '\(table)': a patch without key") }
                for k in keyNames {
                    try requireColumn(k)
                    if patch.key[k] == .null { throw Rejection(reason: "table '\(table)', key \(keyText): key attribute '\(k)' is null") }
                    bindings.append(try bind(k, patch.key[k]!))
                }
                let keySet = plan.keySet
                switch patch.action {
                case let .upsert(set, unset):
                    // Absent columns already hold "nothing": unsetting them (or setting null) is a no-op.
                    var ordered: [String] = []
                    ordered.reserveCapacity(set.count + unset.count)
                    for (c, v) in set where !keySet.contains(c) && (v != .null || schema.hasColumn(c)) { ordered.append(c) }
                    for c in unset where set[c] == nil && !keySet.contains(c) && schema.hasColumn(c) && !ordered.contains(c) { ordered.append(c) }
                    for c in ordered { try requireColumn(c) }
                    ordered.sort()
                    for c in ordered { bindings.append(try bind(c, set[c] ?? .null)) }
                    let statements = cachedSQL(table, keys: keyNames, columns: ordered)
                    sql = statements.upsert
                    if !ordered.isEmpty { updateFirst = statements.update }
                case let .replace(document):
                    // Every attribute the document holds needs a column: counted while the columns
                    // are bound, and looked for by name only when some are left over.
                    var found = 0
                    for k in keyNames where document[k] != nil { found += 1 }
                    for (c, isJSON) in zip(plan.replaceColumns, plan.replaceJSON) {
                        let value = document[c]
                        if value != nil { found += 1 }
                        do {
                            bindings.append(try SQLiteValueMapping.binding(value ?? .null, json: isJSON))
                        } catch {
                            throw Rejection(reason: "table '\(table)', key \(keyText), column '\(c)': cannot store \(error.reason)")
                        }
                    }
                    if found < document.count {
                        for (c, v) in document where v != .null && !schema.hasColumn(c) { try requireColumn(c) }
                    }
                    sql = plan.replaceSQL
                case .delete:
                    sql = Self.deleteSQL(table, keys: keyNames)
                }
            } catch {
                return .rejected(error.reason)
            }

            if isolated { try slot.statement("SAVEPOINT deltabridge_patch").run() }
            do {
                if let expected = patch.expected {
                    guard try guardHolds(db, table: table, schema: schema, json: json, keyNames: keyNames,
                                         keyBindings: Array(bindings.prefix(keyNames.count)), expected: expected) else {
                        if isolated { try slot.statement("RELEASE deltabridge_patch").run() }
                        return .guardFailed
                    }
                }
                if let updateFirst {
                    try slot.statement(updateFirst).run(bindings)
                    if db.changes == 0 { try slot.statement(sql).run(bindings) }
                } else {
                    try slot.statement(sql).run(bindings)
                }
                if isolated { try slot.statement("RELEASE deltabridge_patch").run() }
                return .applied
            } catch let error as SQLiteError where Self.isPatchLevel(error) {
                guard isolated else { throw RefusedInGroup() }
                try slot.statement("ROLLBACK TO deltabridge_patch").run()
                try slot.statement("RELEASE deltabridge_patch").run()
                return .rejected("table '\(table)', key \(keyText): \(error.message)")
            }
        }

        /// Errors that concern one document (constraints, types, sizes), not the batch.
        static func isPatchLevel(_ error: SQLiteError) -> Bool {
            switch error.primaryCode {
            case SQLiteCode.constraint, SQLiteCode.mismatch, SQLiteCode.tooBig, SQLiteCode.range, SQLiteCode.error: true
            default: false
            }
        }

        /// The statements that write one set of columns of a table by key.
        private struct ShapeKey: Hashable {
            let table: String
            let keys: [String]
            let columns: [String]
        }

        /// Upsert and update statements by table, key and column names: building the text is
        /// costlier than running it.
        private var shapeCache: [ShapeKey: (upsert: String, update: String)] = [:]

        private func cachedSQL(_ table: String, keys: [String], columns: [String]) -> (upsert: String, update: String) {
            let cacheKey = ShapeKey(table: table, keys: keys, columns: columns)
            if let last = lastShape, last.key == cacheKey { return last.sql }
            if let sql = shapeCache[cacheKey] {
                lastShape = (cacheKey, sql)
                return sql
            }
            if shapeCache.count > 1024 { shapeCache.removeAll() }
            let sets = columns.enumerated().map { "\(SQLiteSchema.ident($1)) = ?\(keys.count + $0 + 1)" }.joined(separator: ", ")
            let sql = (upsert: Self.upsertSQL(table, keys: keys, columns: columns),
                       update: "UPDATE \(SQLiteSchema.ident(table)) SET \(sets) WHERE " + Self.whereKeys(keys, firstParameter: 1))
            shapeCache[cacheKey] = sql
            lastShape = (cacheKey, sql)
            return sql
        }

        /// The shape used last, compared before hashing (consecutive patches usually share one).
        private var lastShape: (key: ShapeKey, sql: (upsert: String, update: String))?

        static func upsertSQL(_ table: String, keys: [String], columns: [String]) -> String {
            let all = (keys + columns).map(SQLiteSchema.ident)
            var sql = "INSERT INTO \(SQLiteSchema.ident(table)) (" + all.joined(separator: ", ") + ") VALUES ("
                + all.indices.map { "?\($0 + 1)" }.joined(separator: ", ") + ") ON CONFLICT ("
                + keys.map(SQLiteSchema.ident).joined(separator: ", ") + ") DO "
            if columns.isEmpty {
                sql += "NOTHING"
            } else {
                sql += "UPDATE SET " + columns.map { "\(SQLiteSchema.ident($0)) = excluded.\(SQLiteSchema.ident($0))" }.joined(separator: ", ")
            }
            return sql
        }

        static func deleteSQL(_ table: String, keys: [String]) -> String {
            "DELETE FROM \(SQLiteSchema.ident(table)) WHERE " + whereKeys(keys, firstParameter: 1)
        }

        static func whereKeys(_ keys: [String], firstParameter: Int) -> String {
            keys.enumerated().map { "\(SQLiteSchema.ident($1)) = ?\(firstParameter + $0)" }.joined(separator: " AND ")
        }

        /// Rule 8: does the row still hold `expected`? A missing row or column counts as all NULL.
        /// Plain columns compare in SQL (`c IS ?`, so the column's affinity applies as it did when
        /// writing); JSON columns compare as parsed values.
        private func guardHolds(_ db: SQLiteDatabase, table: String, schema: SQLiteTableSchema, json: Set<String>,
                                keyNames: [String], keyBindings: [SQLiteStatement.Binding], expected: [String: Value?]) throws -> Bool {
            let checked = expected.keys.filter { schema.hasColumn($0) }.sorted()
            for (name, value) in expected where !schema.hasColumn(name) {
                if let value, value != .null { return false }
            }
            var wanted: [SQLiteStatement.Binding?] = []
            for c in checked {
                let v = expected[c]! ?? .null
                wanted.append(try? SQLiteValueMapping.binding(v, json: json.contains(c)))
            }
            if wanted.contains(where: { $0 == nil }) { return false }
            let select = checked.isEmpty ? "1"
                : checked.enumerated().map { "\(SQLiteSchema.ident($1)), \(SQLiteSchema.ident($1)) IS ?\($0 + 1)" }.joined(separator: ", ")
            let sql = "SELECT \(select) FROM \(SQLiteSchema.ident(table)) WHERE " + Self.whereKeys(keyNames, firstParameter: checked.count + 1)
            let s = try slot.statement(sql)
            defer { s.reset() }
            try s.bind(wanted.map { $0! } + keyBindings)
            guard try s.step() else {
                return expected.values.allSatisfy { $0 == nil || $0 == .null }
            }
            for (i, c) in checked.enumerated() {
                if json.contains(c) {
                    let current = SQLiteValueMapping.value(s.value(Int32(2 * i)), json: true)
                    let target = SQLiteValueMapping.value(wanted[i]!, json: true)
                    if current != target { return false }
                } else if s.int64(Int32(2 * i + 1)) == 0 {
                    return false
                }
            }
            return true
        }

        // MARK: read

        func read(_ collection: CollectionSpec, keys: [[String: Value]]) throws -> [[String: Value]?] {
            register([collection])
            try slot.verifyFile()
            let db = try slot.open()
            do {
                try db.execute("BEGIN")
                defer { if db.isInTransaction { try? db.execute("COMMIT") } }
                try refresh(db)
                _ = try schema(db, collection.name)
                let sql = "SELECT * FROM \(SQLiteSchema.ident(collection.name)) WHERE " + Self.whereKeys(collection.keyAttributes, firstParameter: 1)
                let s = try slot.statement(sql)
                var out: [[String: Value]?] = []
                out.reserveCapacity(keys.count)
                for key in keys {
                    defer { s.reset() }
                    var bindings: [SQLiteStatement.Binding] = []
                    for k in collection.keyAttributes {
                        bindings.append((try? SQLiteValueMapping.binding(key[k] ?? .null, json: collection.jsonAttributes.contains(k))) ?? .null)
                    }
                    try s.bind(bindings)
                    out.append(try s.step() ? SQLiteValueMapping.row(s, jsonColumns: collection.jsonAttributes) : nil)
                }
                return out
            } catch let error as SQLiteError where !error.isTransient {
                throw SQLiteErrors.map(error, path: path, doing: "reading table '\(collection.name)'")
            }
        }
    }
}
