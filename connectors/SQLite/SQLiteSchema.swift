import SQLiteSupport

/// What the connector needs to know about one table: its columns in declaration order, its primary
/// key and the column sets that are unique (primary key and non-partial UNIQUE indexes on plain columns).
///
/// Invariant: a snapshot of the schema at one moment; refresh it when `PRAGMA schema_version` changes.
struct SQLiteTableSchema: Sendable, Equatable {
    let name: String
    /// Columns as `PRAGMA table_info` lists them (generated and hidden columns excluded).
    let columns: [String]
    let primaryKey: [String]
    let uniqueKeys: [Set<String>]

    func hasColumn(_ name: String) -> Bool { columns.contains(name) }

    /// True when `keys` are exactly the columns of the primary key or of a UNIQUE index (what
    /// `INSERT … ON CONFLICT(keys)` needs).
    func isUniqueKey(_ keys: [String]) -> Bool {
        let wanted = Set(keys)
        return uniqueKeys.contains(wanted)
    }
}

/// Schema introspection through SQLite's table-valued pragma functions.
enum SQLiteSchema {
    /// `table`, `view`, another type, or nil when `name` names nothing in the main schema.
    static func objectType(_ db: SQLiteDatabase, _ name: String) throws -> String? {
        let s = try db.prepare("SELECT type FROM sqlite_master WHERE name = ?1 COLLATE NOCASE AND type IN ('table', 'view')")
        try s.bind(1, name)
        guard try s.step() else { return nil }
        return s.text(0)
    }

    /// The schema of table `name`, or nil when there is no such table (views count as missing).
    static func table(_ db: SQLiteDatabase, _ name: String) throws -> SQLiteTableSchema? {
        guard try objectType(db, name) == "table" else { return nil }
        let info = try db.prepare("SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid")
        try info.bind(1, name)
        var columns: [String] = []
        var pk: [(Int64, String)] = []
        while try info.step() {
            let column = info.text(0)
            columns.append(column)
            let position = info.int64(1)
            if position > 0 { pk.append((position, column)) }
        }
        let primaryKey = pk.sorted { $0.0 < $1.0 }.map(\.1)
        var unique: [Set<String>] = []
        if !primaryKey.isEmpty { unique.append(Set(primaryKey)) }
        let indexes = try db.prepare("SELECT name, \"unique\", partial FROM pragma_index_list(?1)")
        try indexes.bind(1, name)
        var candidates: [String] = []
        while try indexes.step() {
            if indexes.int64(1) != 0 && indexes.int64(2) == 0 { candidates.append(indexes.text(0)) }
        }
        let indexInfo = try db.prepare("SELECT name FROM pragma_index_info(?1)")
        for index in candidates {
            defer { indexInfo.reset() }
            try indexInfo.bind(1, index)
            var names: Set<String> = []
            var plain = true
            while try indexInfo.step() {
                if indexInfo.isNull(0) { plain = false } else { names.insert(indexInfo.text(0)) }
            }
            if plain && !names.isEmpty { unique.append(names) }
        }
        return SQLiteTableSchema(name: name, columns: columns, primaryKey: primaryKey, uniqueKeys: unique)
    }

    /// Changes whenever any connection changes the schema (tables, columns, indexes, triggers).
    static func schemaVersion(_ db: SQLiteDatabase) throws -> Int64 {
        try db.scalarInt("PRAGMA schema_version") ?? 0
    }

    /// A SQL string literal: `'it''s'`.
    static func literal(_ text: String) -> String {
        var out = "'"
        for c in text {
            if c == "'" { out += "''" } else { out.append(c) }
        }
        return out + "'"
    }

    static func ident(_ name: String) -> String { SQLiteDatabase.quoteIdentifier(name) }
}
