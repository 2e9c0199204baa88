import DeltaCore
import DeltaConnector

/// Writes document patches into MariaDB: each batch in one transaction of a session with
/// `skip_replication=1` (so the source sees the writes as echoes). Unconditional upserts go as
/// multi-row `INSERT … ON DUPLICATE KEY UPDATE`, grouped by column set; deletes as one `DELETE …
/// WHERE key IN (…)` per group; conditional writes (two-way flows) row by row, guarded with `<=>`
/// comparisons (binary collation for text, `JSON_EQUALS` for JSON, FLOAT through `CAST`).
///
/// A patch the server refuses (strict mode: a value out of range, too long, not a date; a
/// constraint) is reported as ``PatchResult/rejected(_:)`` naming table, key and column; the rest
/// of the batch still applies (MariaDB rolls back only the failed statement).
///
/// Invariants: all libmariadb calls run on this sink's ``BlockingWorker``; generated columns are
/// never written; a batch that throws is rolled back.
public final class MariaDBSink: SinkConnector {
    public let store: StoreID
    public let config: MariaDBStoreConfig

    let worker: BlockingWorker
    let state: State

    public init(config: MariaDBStoreConfig) {
        self.store = config.store
        self.config = config
        self.worker = BlockingWorker(label: "mariadb-sink.\(config.store.name)")
        self.state = State(config: config)
    }

    public func prepare(collections: [CollectionSpec]) async throws {
        let state = self.state
        try await worker.run { state.prepare(collections) }
    }

    public func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult] {
        if patches.isEmpty { return [] }
        let state = self.state
        return try await worker.run { try state.apply(patches) }
    }

    public func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?] {
        if keys.isEmpty { return [] }
        let state = self.state
        return try await worker.run { try state.read(collection, keys: keys) }
    }

    /// The sink's connection and table shapes; touched only on the worker.
    final class State: @unchecked Sendable {
        let config: MariaDBStoreConfig
        private var conn: MariaDBConnection?
        private let catalog = MariaDBCatalog()
        private var jsonColumns: [String: Set<String>] = [:]

        /// Rows per multi-row statement at most.
        static let rowsPerStatement = 500

        init(config: MariaDBStoreConfig) { self.config = config }

        deinit { dropConnection() }

        func connection() throws -> MariaDBConnection {
            if let conn, conn.isOpen { return conn }
            dropConnection()
            do {
                let c = try MariaDBConnection.connect(config.url, foundRows: true)
                try c.exec("SET SESSION skip_replication = 1")
                conn = c
                return c
            } catch {
                if error.isAccessDenied && error.code != 1045 {
                    throw ConnectorError(.permanent, "\(config.label): the bridge's user may not set skip_replication, which marks its writes as echoes (\(error.message)) — GRANT BINLOG ADMIN ON *.* TO '\(config.url.user)' (or SUPER)")
                }
                throw config.mapped(error, doing: "connecting to write")
            }
        }

        func dropConnection() {
            for s in statements.values { s.close() }
            statements = [:]
            conn?.close()
            conn = nil
        }

        func prepare(_ collections: [CollectionSpec]) {
            for c in collections { jsonColumns[c.name] = c.jsonAttributes }
            guard let conn = try? connection() else { return }
            for c in collections {
                if let name = try? config.table(c.name) { _ = try? catalog.table(name, conn, jsonColumns: c.jsonAttributes) }
            }
        }

        func schema(_ collection: String, _ conn: MariaDBConnection, reload: Bool = false) throws -> MariaDBTableSchema {
            let name = try config.table(collection)
            let schema: MariaDBTableSchema?
            do {
                schema = try catalog.table(name, conn, jsonColumns: jsonColumns[collection] ?? [], reload: reload)
            } catch {
                throw config.mapped(error, doing: "reading the shape of table \(name)")
            }
            guard let schema else {
                throw ConnectorError(.permanent, "\(config.label): table \(name) does not exist — create it, or fix the table name in the pipeline")
            }
            return schema
        }

        // MARK: apply

        /// A patch checked against the table and turned into SQL literals.
        private struct Planned {
            var index: Int
            var patch: DocumentPatch
            var schema: MariaDBTableSchema
            var keyNames: [String]
            var keyParameters: [MariaDBParameter]
            var columns: [String]
            var parameters: [MariaDBParameter]
            var keyText: String
            var keyLiterals: [String] { keyParameters.map(\.literal) }
            var literals: [String] { parameters.map(\.literal) }
        }

        private struct Rejection: Error { let reason: String }

        func apply(_ patches: [DocumentPatch]) throws -> [PatchResult] {
            let conn = try connection()
            var results = [PatchResult](repeating: .applied, count: patches.count)
            var planned: [Planned] = []
            var reloaded = Set<String>()
            for (i, patch) in patches.enumerated() {
                var schema = try self.schema(patch.collection, conn)
                if !reloaded.contains(patch.collection), patch.containsName(where: { schema.column($0) == nil }) {
                    reloaded.insert(patch.collection)
                    schema = try self.schema(patch.collection, conn, reload: true)
                }
                do throws(Rejection) {
                    planned.append(try plan(i, patch, schema))
                } catch {
                    results[i] = .rejected(error.reason)
                }
            }
            do {
                try conn.exec("START TRANSACTION")
                var upserts: [String: [Planned]] = [:]
                var deletes: [String: [Planned]] = [:]
                var conditional: [Planned] = []
                for p in planned {
                    if p.patch.expected != nil {
                        conditional.append(p)
                    } else if p.patch.action == .delete {
                        deletes[p.patch.collection + "\u{0}" + p.keyNames.joined(separator: "\u{0}"), default: []].append(p)
                    } else {
                        upserts[p.patch.collection + "\u{0}" + p.keyNames.joined(separator: "\u{0}") + "\u{1}" + p.columns.joined(separator: "\u{0}"), default: []].append(p)
                    }
                }
                for key in upserts.keys.sorted() {
                    let group = upserts[key]!
                    try requireUniqueKey(group[0].schema, group[0].keyNames)
                    if needsUpdateFirst(group[0]) {
                        try updateThenInsert(conn, group, &results)
                        continue
                    }
                    for start in stride(from: 0, to: group.count, by: Self.rowsPerStatement) {
                        let chunk = Array(group[start..<min(group.count, start + Self.rowsPerStatement)])
                        try writeGroup(conn, chunk, &results) { try self.upsert(conn, $0) }
                    }
                }
                for key in deletes.keys.sorted() {
                    let group = deletes[key]!
                    for start in stride(from: 0, to: group.count, by: Self.rowsPerStatement) {
                        let chunk = Array(group[start..<min(group.count, start + Self.rowsPerStatement)])
                        try writeGroup(conn, chunk, &results) { try conn.exec(self.deleteSQL($0)) }
                    }
                }
                for p in conditional {
                    do {
                        results[p.index] = try self.conditional(conn, p)
                    } catch let error as MariaDBServerError where isPatchLevel(error) {
                        results[p.index] = .rejected(reason(p, error))
                    }
                }
                try conn.exec("COMMIT")
            } catch let error as MariaDBServerError {
                _ = try? conn.exec("ROLLBACK")
                dropConnection()
                if error.isTransient {
                    throw ConnectorError(.transient, "\(config.label): \(error) while applying a batch (retrying)")
                }
                throw config.mapped(error, doing: "applying a batch")
            } catch {
                _ = try? conn.exec("ROLLBACK")
                dropConnection()
                throw error
            }
            return results
        }

        private func plan(_ index: Int, _ patch: DocumentPatch, _ schema: MariaDBTableSchema) throws(Rejection) -> Planned {
            let table = schema.name
            let keyText = Value.object(patch.key).description
            let keyNames = patch.key.keys.sorted()
            guard !keyNames.isEmpty else { throw Rejection(reason: "table \(table): a patch without key") }
            func literal(_ column: MariaDBColumn, _ value: Value) throws(Rejection) -> MariaDBParameter {
                do {
                    return try MariaDBValueMapping.parameter(value, column)
                } catch {
                    throw Rejection(reason: "table \(table), key \(keyText), column '\(column.name)': \(error.reason)")
                }
            }
            var keyLiterals: [MariaDBParameter] = []
            for k in keyNames {
                guard let column = schema.column(k) else {
                    throw Rejection(reason: "table \(table), key \(keyText): no key column '\(k)' — fix the key in the pipeline's mapping")
                }
                let v = patch.key[k]!
                if v == .null { throw Rejection(reason: "table \(table), key \(keyText): key attribute '\(k)' is null") }
                keyLiterals.append(try literal(column, v))
            }
            let keySet = Set(keyNames)
            var columns: [String] = []
            var literals: [MariaDBParameter] = []
            func missing(_ name: String) -> Rejection {
                Rejection(reason: "table \(table), key \(keyText): no column '\(name)' — add it (ALTER TABLE \(table.sql) ADD COLUMN \(MariaDBSQL.ident(name)) ...) or leave it out of the mapping")
            }
            switch patch.action {
            case let .upsert(set, unset):
                var wanted = [String: Value]()
                for (name, value) in set where !keySet.contains(name) { wanted[name] = value }
                for name in unset where !keySet.contains(name) && set[name] == nil { wanted[name] = .null }
                for name in wanted.keys.sorted() {
                    let value = wanted[name]!
                    guard let column = schema.column(name) else {
                        if value == .null { continue }
                        throw missing(name)
                    }
                    if column.generated { continue }
                    columns.append(name)
                    literals.append(try literal(column, value))
                }
            case let .replace(document):
                for (name, value) in document where !keySet.contains(name) && value != .null && schema.column(name) == nil {
                    throw missing(name)
                }
                for column in schema.columns where !keySet.contains(column.name) && !column.generated {
                    // A NOT NULL column the document does not mention keeps its value (or its
                    // default on insert) instead of a NULL it cannot hold.
                    if document[column.name] == nil && !column.nullable { continue }
                    columns.append(column.name)
                    literals.append(try literal(column, document[column.name] ?? .null))
                }
            case .delete:
                break
            }
            return Planned(index: index, patch: patch, schema: schema, keyNames: keyNames, keyParameters: keyLiterals,
                           columns: columns, parameters: literals, keyText: keyText)
        }

        /// Runs a statement for a group; when the server refuses it, applies the patches one by one
        /// to find the refused ones (a failed statement is rolled back, the transaction goes on).
        private func writeGroup(_ conn: MariaDBConnection, _ group: [Planned], _ results: inout [PatchResult],
                                _ statement: ([Planned]) throws -> Void) throws {
            do {
                try statement(group)
                return
            } catch let error as MariaDBServerError where isPatchLevel(error) {
                if group.count == 1 {
                    results[group[0].index] = .rejected(reason(group[0], error))
                    return
                }
            }
            for p in group {
                do {
                    try statement([p])
                } catch let error as MariaDBServerError where isPatchLevel(error) {
                    results[p.index] = .rejected(reason(p, error))
                }
            }
        }

        /// A partial upsert into a table with a NOT NULL column without default that the patch does
        /// not set: `INSERT … ON DUPLICATE KEY UPDATE` would fail on the INSERT half (error 1364)
        /// even for an existing row.
        private func needsUpdateFirst(_ p: Planned) -> Bool {
            guard case .upsert = p.patch.action else { return false }
            let given = Set(p.keyNames + p.columns)
            return p.schema.columns.contains { $0.requiresValue && !given.contains($0.name) }
        }

        /// UPDATE by key row by row; the rows that matched none are inserted (where the server
        /// then names the missing value).
        private func updateThenInsert(_ conn: MariaDBConnection, _ group: [Planned], _ results: inout [PatchResult]) throws {
            var missing: [Planned] = []
            for p in group {
                let table = p.schema.name.sql
                let statement = p.columns.isEmpty
                    ? "SELECT 1 FROM \(table) WHERE \(keyCondition(p))"
                    : "UPDATE \(table) SET " + p.columns.indices.map { "\(MariaDBSQL.ident(p.columns[$0])) = \(p.literals[$0])" }.joined(separator: ", ") + " WHERE \(keyCondition(p))"
                let outcome: Swift.Result<UInt64, MariaDBServerError>
                if p.columns.isEmpty {
                    outcome = conn.result { () throws(MariaDBServerError) -> UInt64 in UInt64(try conn.query(statement).rows.count) }
                } else {
                    outcome = conn.result { () throws(MariaDBServerError) -> UInt64 in try conn.exec(statement) }
                }
                switch outcome {
                case let .success(matched):
                    if matched == 0 { missing.append(p) }
                case let .failure(error):
                    guard isPatchLevel(error) else { throw error }
                    results[p.index] = .rejected(reason(p, error))
                }
            }
            if !missing.isEmpty {
                try writeGroup(conn, missing, &results) { try self.upsert(conn, $0) }
            }
        }

        /// Errors that concern the rows written, not the batch.
        private func isPatchLevel(_ error: MariaDBServerError) -> Bool {
            if error.isTransient || error.connectionLost || error.isAccessDenied { return false }
            if [1146, 1049, 1064, 1180, 1181, 1792, 1290].contains(error.code) { return false }
            return true
        }

        private func reason(_ p: Planned, _ error: MariaDBServerError) -> String {
            "table \(p.schema.name), key \(p.keyText): \(error.message) (error \(error.code))"
        }

        private func requireUniqueKey(_ schema: MariaDBTableSchema, _ keys: [String]) throws {
            guard schema.isUniqueKey(keys) else {
                throw ConnectorError(.permanent, "\(config.label): table \(schema.name) has no PRIMARY KEY or UNIQUE index on (\(keys.joined(separator: ", "))), which writing by key needs — ALTER TABLE \(schema.name.sql) ADD PRIMARY KEY (\(keys.map(MariaDBSQL.ident).joined(separator: ", "))), or fix the key in the mapping")
            }
        }

        /// Prepared statements by SQL text (one per table, column set and row count).
        private var statements: [String: MariaDBPreparedStatement] = [:]
        static let maxStatements = 32

        /// The multi-row upsert of `group` as a prepared statement with bound parameters.
        private func upsert(_ conn: MariaDBConnection, _ group: [Planned]) throws {
            let sql = upsertSQL(group)
            let statement: MariaDBPreparedStatement
            if let cached = statements[sql] {
                statement = cached
            } else {
                if statements.count >= Self.maxStatements {
                    for s in statements.values { s.close() }
                    statements = [:]
                }
                statement = try MariaDBPreparedStatement(conn, sql: sql)
                statements[sql] = statement
            }
            try statement.execute(group.flatMap { $0.keyParameters + $0.parameters })
        }

        /// `INSERT … VALUES (?, …), … ON DUPLICATE KEY UPDATE …` for `group.count` rows.
        private func upsertSQL(_ group: [Planned]) -> String {
            let first = group[0]
            let all = first.keyNames + first.columns
            var sql = "INSERT INTO \(first.schema.name.sql) (" + all.map(MariaDBSQL.ident).joined(separator: ", ") + ") VALUES "
            let row = "(" + Array(repeating: "?", count: all.count).joined(separator: ", ") + ")"
            sql += Array(repeating: row, count: group.count).joined(separator: ", ")
            let updates = first.columns.isEmpty ? first.keyNames : first.columns
            sql += " ON DUPLICATE KEY UPDATE " + updates.map { "\(MariaDBSQL.ident($0)) = VALUES(\(MariaDBSQL.ident($0)))" }.joined(separator: ", ")
            return sql
        }

        private func keyCondition(_ p: Planned) -> String {
            p.keyNames.indices.map { "\(MariaDBSQL.ident(p.keyNames[$0])) = \(p.keyLiterals[$0])" }.joined(separator: " AND ")
        }

        private func deleteSQL(_ group: [Planned]) -> String {
            let first = group[0]
            if first.keyNames.count == 1 {
                return "DELETE FROM \(first.schema.name.sql) WHERE \(MariaDBSQL.ident(first.keyNames[0])) IN (" + group.map { $0.keyLiterals[0] }.joined(separator: ", ") + ")"
            }
            return "DELETE FROM \(first.schema.name.sql) WHERE " + group.map { "(" + keyCondition($0) + ")" }.joined(separator: " OR ")
        }

        /// Rule 8: the guard of `expected` as SQL conditions; nil when it can never hold.
        private func guardConditions(_ p: Planned, _ expected: [String: Value?]) -> [String]? {
            var conditions: [String] = []
            for name in expected.keys.sorted() {
                let value = expected[name]! ?? .null
                guard let column = p.schema.column(name) else {
                    if value == .null { continue }
                    return nil
                }
                let ident = MariaDBSQL.ident(name)
                if value == .null { conditions.append("\(ident) IS NULL"); continue }
                guard let literal = try? MariaDBValueMapping.literal(value, column) else { return nil }
                if column.semantic == .json {
                    conditions.append("JSON_EQUALS(\(ident), \(literal)) <=> 1")
                } else if column.isFloat {
                    conditions.append("\(ident) <=> CAST(\(literal) AS FLOAT)")
                } else if column.isText {
                    conditions.append("\(ident) <=> \(literal) COLLATE utf8mb4_bin")
                } else {
                    conditions.append("\(ident) <=> \(literal)")
                }
            }
            return conditions
        }

        /// A guarded write: update (or delete) only when the row still holds `expected`; create a
        /// row only when `expected` says it is missing.
        private func conditional(_ conn: MariaDBConnection, _ p: Planned) throws -> PatchResult {
            guard let expected = p.patch.expected else { return .applied }
            let allAbsent = expected.values.allSatisfy { $0 == nil || $0 == .null }
            let table = p.schema.name.sql
            guard let guards = guardConditions(p, expected) else { return .guardFailed }
            let condition = ([keyCondition(p)] + guards).joined(separator: " AND ")
            func exists() throws -> Bool {
                try !conn.query("SELECT 1 FROM \(table) WHERE \(keyCondition(p)) FOR UPDATE").rows.isEmpty
            }
            if p.patch.action == .delete {
                if try conn.exec("DELETE FROM \(table) WHERE \(condition)") > 0 { return .applied }
                guard allAbsent else { return .guardFailed }
                return try exists() ? .guardFailed : .applied
            }
            if p.columns.isEmpty {
                if try !conn.query("SELECT 1 FROM \(table) WHERE \(condition)").rows.isEmpty { return .applied }
            } else {
                let sets = p.columns.indices.map { "\(MariaDBSQL.ident(p.columns[$0])) = \(p.literals[$0])" }
                if try conn.exec("UPDATE \(table) SET \(sets.joined(separator: ", ")) WHERE \(condition)") > 0 { return .applied }
            }
            guard allAbsent, try !exists() else { return .guardFailed }
            let all = p.keyNames + p.columns
            let insert = "INSERT INTO \(table) (" + all.map(MariaDBSQL.ident).joined(separator: ", ") + ") VALUES (" + (p.keyLiterals + p.literals).joined(separator: ", ") + ")"
            if let error = conn.attempt(insert) {
                if error.code == 1062 { return .guardFailed }
                throw error
            }
            return .applied
        }

        // MARK: read

        func read(_ collection: CollectionSpec, keys: [[String: Value]]) throws -> [[String: Value]?] {
            let conn = try connection()
            let schema = try self.schema(collection.name, conn)
            let keyNames = collection.keyAttributes
            var out = [[String: Value]?](repeating: nil, count: keys.count)
            var conditions: [String] = []
            for key in keys {
                var parts: [String] = []
                for name in keyNames {
                    guard let column = schema.column(name), let value = key[name], let literal = try? MariaDBValueMapping.literal(value, column) else { break }
                    parts.append("\(MariaDBSQL.ident(name)) = \(literal)")
                }
                if parts.count == keyNames.count { conditions.append("(" + parts.joined(separator: " AND ") + ")") }
            }
            if conditions.isEmpty { return out }
            let sql = "SELECT " + schema.columns.map(MariaDBValueMapping.selectExpression).joined(separator: ", ") + " FROM \(schema.name.sql) WHERE " + conditions.joined(separator: " OR ")
            let result: MariaDBConnection.Result
            do {
                result = try conn.query(sql)
            } catch {
                if error.connectionLost { dropConnection() }
                throw config.mapped(error, doing: "reading table \(schema.name)")
            }
            var index: [[Value]: Int] = [:]
            for (i, key) in keys.enumerated() { index[keyNames.map { key[$0] ?? .null }] = i }
            let columns = result.columns.map { schema.column($0.name) }
            for row in result.rows {
                var document = [String: Value]()
                for (i, c) in result.columns.enumerated() { document[c.name] = MariaDBValueMapping.decode(row[i], columns[i]) }
                if let i = index[keyNames.map { document[$0] ?? .null }] { out[i] = document }
            }
            return out
        }
    }
}
