import DeltaConnector
import SQLiteSupport

/// `create: true`: a SQLite source describes its tables' columns by their declared types, and a
/// SQLite sink creates a missing table from such a description — with the declared type when the
/// source is SQLite too, else the storage class this connector writes the kind's values with
/// (decimals, timestamps, UUIDs and JSON as TEXT, so nothing is rounded).
enum SQLiteTableCreation {
    /// The kind of a declared type, by SQLite's affinity rules refined by common type names.
    static func kind(ofDeclared declared: String, json: Bool) -> ColumnKind {
        if json { return .json }
        let t = declared.uppercased()
        if t.contains("BOOL") { return .bool }
        if t.contains("INT") { return .int }
        if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") { return .string }
        if t.contains("BLOB") || t.isEmpty { return .bytes }
        if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") { return .double }
        if t.contains("TIMESTAMP") || t.contains("DATETIME") { return .timestamp }
        if t.contains("DATE") { return .date }
        if t.contains("TIME") { return .time }
        return .decimal
    }

    static func type(of column: ColumnDescription) -> String {
        if let native = column.native, native.storeType == "sqlite" { return native.type }
        switch column.kind {
        case .bool, .int: return "INTEGER"
        case .double: return "REAL"
        case .bytes: return "BLOB"
        case .decimal, .string, .timestamp, .date, .time, .uuid, .json: return "TEXT"
        }
    }

    static func createStatement(_ table: String, _ columns: [ColumnDescription], keys: [String]) -> String {
        var parts = columns.map { c in
            "\(SQLiteSchema.ident(c.name)) \(type(of: c))\(c.nullable && !keys.contains(c.name) ? "" : " NOT NULL")"
        }
        parts.append("PRIMARY KEY (\(keys.map(SQLiteSchema.ident).joined(separator: ", ")))")
        return "CREATE TABLE IF NOT EXISTS \(SQLiteSchema.ident(table)) (\(parts.joined(separator: ", ")))"
    }
}

extension SQLiteSource: CollectionDescribing {
    public func describe(_ collection: CollectionSpec) async throws -> [ColumnDescription] {
        let (connection, path) = (self.connection, self.path)
        return try await worker.run {
            let db = try connection.open()
            guard try SQLiteSchema.objectType(db, collection.name) == "table" else {
                throw ConnectorError(.permanent, "table '\(collection.name)' does not exist in SQLite database '\(path)' — create it, or fix the table name")
            }
            let info = try db.prepare("SELECT name, type, \"notnull\" FROM pragma_table_info(?1) ORDER BY cid")
            try info.bind(1, collection.name)
            var columns = [ColumnDescription]()
            while try info.step() {
                let name = info.text(0)
                let declared = info.text(1)
                columns.append(ColumnDescription(name: name, kind: SQLiteTableCreation.kind(ofDeclared: declared, json: collection.jsonAttributes.contains(name)),
                                                 nullable: info.int64(2) == 0, native: declared.isEmpty ? nil : ("sqlite", declared)))
            }
            return columns
        }
    }
}

extension SQLiteSink: CollectionCreating {
    public func createIfMissing(_ collection: CollectionSpec, columns: [ColumnDescription]) async throws -> Bool {
        let state = self.state
        return try await worker.run {
            let db = try state.slot.open()
            if try SQLiteSchema.objectType(db, collection.name) != nil { return false }
            try db.execute(SQLiteTableCreation.createStatement(collection.name, columns, keys: collection.keyAttributes))
            return true
        }
    }
}
