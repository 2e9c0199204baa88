import DeltaConnector
import SQLiteSupport

extension SQLiteSource: PrerequisiteValidating {
    /// Checks the file, the tables, their keys and JSON attributes; each problem comes with its fix.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let (path, timeout, initSQL) = (self.path, busyTimeoutMilliseconds, connection.initSQL)
        return try await worker.run {
            if let initSQL { try SQLiteConnectionSlot.initialize(path, sql: initSQL, busyTimeoutMilliseconds: timeout) }
            return SQLiteValidation.problems(path: path, busyTimeoutMilliseconds: timeout, collections: collections, asSource: asSource, asSink: asSink)
        }
    }
}

extension SQLiteSink: PrerequisiteValidating {
    /// Checks the file, the tables, their keys and JSON attributes; each problem comes with its fix.
    /// Also registers the collections' JSON attributes (see ``SQLiteSink/prepare(collections:)``).
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let (path, timeout, state) = (self.path, busyTimeoutMilliseconds, self.state)
        return try await worker.run {
            state.register(collections)
            if let initSQL = state.slot.initSQL { try SQLiteConnectionSlot.initialize(path, sql: initSQL, busyTimeoutMilliseconds: timeout) }
            return SQLiteValidation.problems(path: path, busyTimeoutMilliseconds: timeout, collections: collections, asSource: asSource, asSink: asSink)
        }
    }
}

/// The prerequisite checks of a SQLite store, shared by source and sink. Read-only: it never
/// creates the file or changes the schema (the store's `init_sql`, when set, runs before them).
enum SQLiteValidation {
    static func problems(path: String, busyTimeoutMilliseconds: Int32, collections: [CollectionSpec],
                         asSource: Bool, asSink: Bool) -> [ValidationProblem] {
        guard SQLiteConnectionSlot.fileExists(path) else {
            return [ValidationProblem(problem: "SQLite database file '\(path)' does not exist",
                                      fix: "create it (e.g. `sqlite3 '\(path)' 'PRAGMA user_version;'` after creating its tables) or fix `path` in the pipeline file")]
        }
        let db: SQLiteDatabase
        do {
            db = try SQLiteDatabase(path: path, mode: .init(readOnly: false, create: false), busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            _ = try db.scalarInt("SELECT count(*) FROM sqlite_master")
        } catch {
            return [ValidationProblem(problem: "cannot read '\(path)' as a SQLite database (\(describe(error)))",
                                      fix: "point `path` at a SQLite database file the bridge may read and write")]
        }
        var problems: [ValidationProblem] = []
        if (asSource || asSink) && !SQLiteConnectionSlot.isWritable(path) {
            problems.append(ValidationProblem(problem: "SQLite database '\(path)' is not writable (the source installs its change log in it, the sink writes rows)",
                                              fix: "give the user running deltabridge write permission on the file and its folder"))
        }
        for spec in collections {
            let table = spec.name
            if table.hasPrefix("_deltabridge_") {
                problems.append(ValidationProblem(problem: "table '\(table)' in '\(path)' is DeltaBridge's own bookkeeping",
                                                  fix: "remove it from the mapping"))
                continue
            }
            let schema: SQLiteTableSchema?
            do {
                if try SQLiteSchema.objectType(db, table) == "view" {
                    problems.append(ValidationProblem(problem: "'\(table)' in '\(path)' is a view, not a table",
                                                      fix: "map the underlying table instead"))
                    continue
                }
                schema = try SQLiteSchema.table(db, table)
            } catch {
                problems.append(ValidationProblem(problem: "cannot read the schema of '\(table)' in '\(path)' (\(describe(error)))",
                                                  fix: "check that the file is a healthy SQLite database"))
                continue
            }
            guard let schema else {
                if spec.createIfMissing { continue }  // created from a source's columns before the flow starts
                problems.append(ValidationProblem(problem: "table '\(table)' does not exist in SQLite database '\(path)'",
                                                  fix: "create the table, or fix the table name in the pipeline's mapping"))
                continue
            }
            let missingKeys = spec.keyAttributes.filter { !schema.hasColumn($0) }
            for key in missingKeys {
                let hint = schema.columns.first { $0.lowercased() == key.lowercased() }.map { " (there is '\($0)': names are case-sensitive here)" } ?? ""
                problems.append(ValidationProblem(problem: "table '\(table)' in '\(path)' has no key column '\(key)'\(hint)",
                                                  fix: "fix the key in the pipeline's mapping, or add the column"))
            }
            if missingKeys.isEmpty && !schema.isUniqueKey(spec.keyAttributes) {
                let keys = spec.keyAttributes.joined(separator: ", ")
                let indexName = "\(table)_" + spec.keyAttributes.joined(separator: "_") + "_key"
                problems.append(ValidationProblem(problem: "table '\(table)' in '\(path)' has no PRIMARY KEY or UNIQUE index on (\(keys)), so rows cannot be found by key (INSERT … ON CONFLICT needs one)",
                                                  fix: "CREATE UNIQUE INDEX \(SQLiteSchema.ident(indexName)) ON \(SQLiteSchema.ident(table))(\(spec.keyAttributes.map(SQLiteSchema.ident).joined(separator: ", "))), or fix the key in the mapping"))
            }
            for column in spec.jsonAttributes.sorted() where !schema.hasColumn(column) {
                problems.append(ValidationProblem(problem: "table '\(table)' in '\(path)' has no column '\(column)' (listed as JSON)",
                                                  fix: "fix the JSON attribute list in the pipeline's mapping, or add the column"))
            }
        }
        return problems
    }

    private static func describe(_ error: any Error) -> String {
        (error as? SQLiteError)?.message ?? "\(error)"
    }
}
