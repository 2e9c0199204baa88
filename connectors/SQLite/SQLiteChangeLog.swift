import DeltaCore
import DeltaConnector
import SQLiteSupport

/// The change log the SQLite source keeps inside the user's database file, since SQLite has no
/// replication log of its own: a table filled by AFTER INSERT/UPDATE/DELETE triggers.
///
/// ```
/// _deltabridge_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT, op TEXT ('upsert'|'delete'),
///                      row TEXT (JSON image), at INTEGER (µs since epoch), echo INTEGER DEFAULT 0)
/// _deltabridge_tables(tbl TEXT PRIMARY KEY, columns TEXT (JSON array), keys TEXT (JSON array), format INTEGER)
/// _deltabridge_state(name TEXT PRIMARY KEY, value INTEGER)      -- 'pruned_through'
/// triggers _deltabridge_<table>_ins / _upd / _del
/// ```
///
/// A row image is a JSON object `{"column": [typeof(value), value]}` where REAL values are text
/// from `printf('%!.20e')` (exact on SQLite builds with an 80-bit or 128-bit long double, and on
/// SQLite ≥ 3.43) and BLOBs hex text, so types and bits survive the trip. Inserts and updates log
/// the NEW row as `upsert`; deletes log the whole OLD row as `delete`; an update that changes the
/// key logs a `delete` of the OLD row first.
///
/// Invariants: seq grows strictly (AUTOINCREMENT never reuses a value, also after pruning); with
/// SQLite's single writer, rows become visible in seq order; triggers always match the table's
/// current columns once ``ensureInstalled(_:_:path:)`` has run after a schema change.
enum SQLiteChangeLog {
    static let changesTable = "_deltabridge_changes"
    static let tablesTable = "_deltabridge_tables"
    static let stateTable = "_deltabridge_state"
    /// Bump when the trigger bodies change: installed triggers of another format are re-created.
    static let format: Int64 = 1
    /// Columns per `json_object` call (SQLite allows at most 127 function arguments by default).
    static let columnsPerObject = 50

    static let createTablesSQL = """
        CREATE TABLE IF NOT EXISTS _deltabridge_changes(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            tbl TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
            row TEXT NOT NULL,
            at INTEGER NOT NULL,
            echo INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS _deltabridge_tables(
            tbl TEXT PRIMARY KEY,
            columns TEXT NOT NULL,
            keys TEXT NOT NULL,
            format INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS _deltabridge_state(
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL);
        """

    /// The head position: the greatest seq ever assigned (also when pruned away), 0 when none.
    static let headSQL = """
        SELECT max(coalesce((SELECT max(seq) FROM _deltabridge_changes), 0),
                   coalesce((SELECT seq FROM sqlite_sequence WHERE name = '_deltabridge_changes'), 0))
        """

    /// Microseconds since the Unix epoch from `julianday('now')` (millisecond precision).
    static let nowMicrosSQL = "CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000"

    static func exists(_ db: SQLiteDatabase) throws -> Bool {
        try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_deltabridge_changes'") == 1
    }

    /// The head position, or 0 when the change log is not installed.
    static func head(_ db: SQLiteDatabase) throws -> Int64 {
        guard try exists(db) else { return 0 }
        return try db.scalarInt(headSQL) ?? 0
    }

    /// The greatest position whose change-log rows may have been pruned (0 when never pruned).
    static func prunedThrough(_ db: SQLiteDatabase) throws -> Int64 {
        guard try exists(db) else { return 0 }
        return try db.scalarInt("SELECT value FROM _deltabridge_state WHERE name = 'pruned_through'") ?? 0
    }

    static func triggerNames(_ table: String) -> [String] {
        ["_deltabridge_\(table)_ins", "_deltabridge_\(table)_upd", "_deltabridge_\(table)_del"]
    }

    /// Installs the change log and the triggers of `collections` where missing or out of date
    /// (columns, keys or format changed), and switches the database to WAL. Idempotent; takes the
    /// write lock only when something has to change. Returns true when it changed something.
    @discardableResult
    static func ensureInstalled(_ db: SQLiteDatabase, _ collections: [CollectionSpec], path: String) throws -> Bool {
        var stale: [(CollectionSpec, SQLiteTableSchema)] = []
        let installed = try exists(db)
        for spec in collections {
            let schema = try checkedSchema(db, spec, path: path)
            if try !installed || !isCurrent(db, spec, schema) { stale.append((spec, schema)) }
        }
        if installed && stale.isEmpty { return false }

        if try db.scalarText("PRAGMA journal_mode")?.lowercased() != "wal" {
            _ = try db.scalarText("PRAGMA journal_mode=WAL")
        }
        try db.transaction {
            try db.execute(createTablesSQL)
            let record = try db.prepare("INSERT INTO _deltabridge_tables(tbl, columns, keys, format) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(tbl) DO UPDATE SET columns = excluded.columns, keys = excluded.keys, format = excluded.format")
            for (spec, _) in stale {
                // Re-read inside the write transaction: the schema cannot change under us now.
                let schema = try checkedSchema(db, spec, path: path)
                for name in triggerNames(spec.name) {
                    try db.execute("DROP TRIGGER IF EXISTS \(SQLiteSchema.ident(name))")
                }
                for sql in triggerSQL(table: spec.name, columns: schema.columns, keys: spec.keyAttributes) {
                    try db.execute(sql)
                }
                try record.run([.text(spec.name), .text(jsonList(schema.columns)), .text(jsonList(spec.keyAttributes)), .int(format)])
            }
        }
        return true
    }

    /// The table's schema, or a permanent error when the table or a key column is missing.
    static func checkedSchema(_ db: SQLiteDatabase, _ spec: CollectionSpec, path: String) throws -> SQLiteTableSchema {
        guard let schema = try SQLiteSchema.table(db, spec.name) else {
            throw ConnectorError(.permanent, "table '\(spec.name)' does not exist in SQLite database '\(path)' — create it or fix the table name in the mapping")
        }
        for key in spec.keyAttributes where !schema.hasColumn(key) {
            throw ConnectorError(.permanent, "table '\(spec.name)' in '\(path)' has no key column '\(key)' — fix the key in the mapping")
        }
        return schema
    }

    private static func isCurrent(_ db: SQLiteDatabase, _ spec: CollectionSpec, _ schema: SQLiteTableSchema) throws -> Bool {
        let s = try db.prepare("SELECT columns, keys, format FROM _deltabridge_tables WHERE tbl = ?1")
        try s.bind(1, spec.name)
        guard try s.step() else { return false }
        guard s.text(0) == jsonList(schema.columns), s.text(1) == jsonList(spec.keyAttributes), s.int64(2) == format else { return false }
        let names = triggerNames(spec.name)
        let t = try db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (?1, ?2, ?3)")
        try t.bind([.text(names[0]), .text(names[1]), .text(names[2])])
        _ = try t.step()
        return t.int64(0) == 3
    }

    static func jsonList(_ names: [String]) -> String {
        (try? JSONCodec.serialize(.array(names.map { .string($0) }))) ?? "[]"
    }

    /// `json_object(...)` of the row `qualifier` (`NEW` or `OLD`), merged with `json_patch` past
    /// ``columnsPerObject`` columns.
    static func imageSQL(_ qualifier: String, columns: [String]) -> String {
        var objects: [String] = []
        var start = 0
        while start < columns.count {
            let chunk = columns[start..<min(start + columnsPerObject, columns.count)]
            let members = chunk.map { column -> String in
                let v = "\(qualifier).\(SQLiteSchema.ident(column))"
                return "\(SQLiteSchema.literal(column)), json_array(typeof(\(v)), CASE typeof(\(v)) WHEN 'real' THEN printf('%!.20e', \(v)) WHEN 'blob' THEN hex(\(v)) ELSE \(v) END)"
            }
            objects.append("json_object(" + members.joined(separator: ", ") + ")")
            start += columnsPerObject
        }
        guard var sql = objects.first else { return "json_object()" }
        for next in objects.dropFirst() { sql = "json_patch(\(sql), \(next))" }
        return sql
    }

    /// The CREATE TRIGGER statements of one table.
    static func triggerSQL(table: String, columns: [String], keys: [String]) -> [String] {
        let names = triggerNames(table).map(SQLiteSchema.ident)
        let t = SQLiteSchema.ident(table)
        let tbl = SQLiteSchema.literal(table)
        let insert = "INSERT INTO _deltabridge_changes(tbl, op, row, at)"
        let keyChanged = keys.map { "OLD.\(SQLiteSchema.ident($0)) IS NOT NEW.\(SQLiteSchema.ident($0))" }.joined(separator: " OR ")
        return [
            """
            CREATE TRIGGER \(names[0]) AFTER INSERT ON \(t) BEGIN
              \(insert) VALUES (\(tbl), 'upsert', \(imageSQL("NEW", columns: columns)), \(nowMicrosSQL));
            END
            """,
            """
            CREATE TRIGGER \(names[1]) AFTER UPDATE ON \(t) BEGIN
              \(insert) SELECT \(tbl), 'delete', \(imageSQL("OLD", columns: columns)), \(nowMicrosSQL) WHERE \(keyChanged);
              \(insert) VALUES (\(tbl), 'upsert', \(imageSQL("NEW", columns: columns)), \(nowMicrosSQL));
            END
            """,
            """
            CREATE TRIGGER \(names[2]) AFTER DELETE ON \(t) BEGIN
              \(insert) VALUES (\(tbl), 'delete', \(imageSQL("OLD", columns: columns)), \(nowMicrosSQL));
            END
            """,
        ]
    }

    /// Deletes change-log rows with seq ≤ `position` and records the pruned watermark. Returns the
    /// number of rows deleted.
    static func prune(_ db: SQLiteDatabase, upTo position: Int64) throws -> Int {
        guard try exists(db) else { return 0 }
        return try db.transaction {
            let delete = try db.prepare("DELETE FROM _deltabridge_changes WHERE seq <= ?1")
            try delete.run([.int(position)])
            let count = db.changes
            let mark = try db.prepare("INSERT INTO _deltabridge_state(name, value) VALUES ('pruned_through', ?1) ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)")
            try mark.run([.int(position)])
            return count
        }
    }
}
