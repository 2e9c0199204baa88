import DeltaCore
import DeltaConnector

/// One column of a table as `information_schema` describes it, with the semantic type the binlog
/// cannot tell (JSON, UUID, INET6, INET4).
struct MariaDBColumn: Sendable, Equatable {
    var name: String
    /// `DATA_TYPE`, lower-case (`int`, `varchar`, `datetime`, `uuid`, ...).
    var dataType: String
    /// `COLUMN_TYPE` (`int(10) unsigned`, `enum('a','b')`).
    var columnType: String
    var nullable: Bool
    var generated: Bool
    var semantic: MariaDBSemanticType?
    /// NOT NULL without a default (nor AUTO_INCREMENT): an INSERT must give it a value.
    var requiresValue = false

    var isUnsigned: Bool { columnType.contains("unsigned") }
    var isFloat: Bool { dataType == "float" }
    var isBit: Bool { dataType == "bit" }
    var isTemporalInstant: Bool { dataType == "datetime" || dataType == "timestamp" }
    var isBinary: Bool { ["binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point", "linestring", "polygon"].contains(dataType) }
    var isText: Bool { ["char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"].contains(dataType) }
}

/// A table's columns and its key, read from `information_schema`.
///
/// Invariant: `columns` are in ordinal order; `primaryKey` is empty when the table has none.
struct MariaDBTableSchema: Sendable {
    var name: MariaDBTableName
    var columns: [MariaDBColumn]
    var primaryKey: [String]
    /// Column sets of UNIQUE indexes (including the primary key).
    var uniqueKeys: [[String]]

    func column(_ name: String) -> MariaDBColumn? { columns.first { $0.name == name } }

    var semantics: [String: MariaDBSemanticType] {
        var out: [String: MariaDBSemanticType] = [:]
        for c in columns { if let s = c.semantic { out[c.name] = s } }
        return out
    }

    func isUniqueKey(_ keys: [String]) -> Bool {
        uniqueKeys.contains { Set($0) == Set(keys) }
    }

    /// Reads the table; nil when it does not exist. `jsonColumns` (the pipeline's `json:` list)
    /// are JSON whatever the catalog says.
    static func load(_ conn: MariaDBConnection, _ table: MariaDBTableName, jsonColumns: Set<String> = []) throws(MariaDBServerError) -> MariaDBTableSchema? {
        let db = MariaDBSQL.string(table.database), t = MariaDBSQL.string(table.table)
        let cols = try conn.query("SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, EXTRA, COLUMN_DEFAULT IS NULL FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(db) AND TABLE_NAME = \(t) ORDER BY ORDINAL_POSITION")
        if cols.rows.isEmpty { return nil }
        let checks = try conn.query("SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = \(db) AND TABLE_NAME = \(t)")
        var json = jsonColumns
        for i in checks.rows.indices {
            let clause = (checks.text(i, 1) ?? "").lowercased()
            if clause.hasPrefix("json_valid(`"), let name = checks.text(i, 0) { json.insert(name) }
        }
        var columns: [MariaDBColumn] = []
        for i in cols.rows.indices {
            let name = cols.text(i, 0) ?? ""
            let dataType = cols.text(i, 1) ?? ""
            let extra = (cols.text(i, 4) ?? "").uppercased()
            var semantic: MariaDBSemanticType?
            switch dataType {
            case "uuid": semantic = .uuid
            case "inet6": semantic = .inet6
            case "inet4": semantic = .inet4
            case "json": semantic = .json
            case "tinyint" where (cols.text(i, 2) ?? "").lowercased().hasPrefix("tinyint(1)"): semantic = .bool
            default: if json.contains(name) { semantic = .json }
            }
            let nullable = cols.text(i, 3) == "YES"
            let generated = extra.contains("GENERATED") || extra.contains("VIRTUAL") || extra.contains("PERSISTENT") || extra.contains("STORED")
            var column = MariaDBColumn(name: name, dataType: dataType, columnType: (cols.text(i, 2) ?? "").lowercased(),
                                       nullable: nullable, generated: generated, semantic: semantic)
            column.requiresValue = !nullable && !generated && cols.text(i, 5) == "1" && !extra.contains("AUTO_INCREMENT")
            columns.append(column)
        }
        let keys = try conn.query("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = \(db) AND TABLE_NAME = \(t) AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX")
        var unique: [String: [String]] = [:]
        var order: [String] = []
        for i in keys.rows.indices {
            let index = keys.text(i, 0) ?? ""
            if unique[index] == nil { order.append(index) }
            unique[index, default: []].append(keys.text(i, 1) ?? "")
        }
        return MariaDBTableSchema(name: table, columns: columns, primaryKey: unique["PRIMARY"] ?? [], uniqueKeys: order.map { unique[$0]! })
    }
}

/// Table shapes of one connection, by table; reloaded on demand (after DDL).
///
/// Invariant: touched only on the owning worker.
final class MariaDBCatalog: @unchecked Sendable {
    private var tables: [MariaDBTableName: MariaDBTableSchema] = [:]

    func table(_ name: MariaDBTableName, _ conn: MariaDBConnection, jsonColumns: Set<String> = [], reload: Bool = false) throws(MariaDBServerError) -> MariaDBTableSchema? {
        if !reload, let cached = tables[name] { return cached }
        let schema = try MariaDBTableSchema.load(conn, name, jsonColumns: jsonColumns)
        tables[name] = schema
        return schema
    }

    func forget() { tables = [:] }
}
