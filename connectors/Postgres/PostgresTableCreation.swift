import DeltaConnector

/// `create: true`: a PostgreSQL source describes its tables' columns (a domain as its base type),
/// and a PostgreSQL sink creates a missing table from such a description — with the exact
/// built-in type when the source is PostgreSQL too, else the closest type of the column's kind.
enum PostgresTableCreation {
    /// Types of this store type's own that another database can hold (built-in types only:
    /// enums and domains exist only where they were created).
    static let firstUserOID: UInt32 = 16384

    static func kind(ofType oid: UInt32) -> ColumnKind {
        typealias T = PostgresTypeOID
        if T.element(ofArray: oid) != nil { return .json }
        switch oid {
        case T.bool: return .bool
        case T.int2, T.int4, T.int8, T.oid: return .int
        case T.float4, T.float8: return .double
        case T.numeric: return .decimal
        case T.bytea: return .bytes
        case T.uuid: return .uuid
        case T.date: return .date
        case T.time: return .time
        case T.timestamp, T.timestamptz: return .timestamp
        case T.json, T.jsonb: return .json
        default: return .string
        }
    }

    /// The column type for a description, in PostgreSQL's syntax.
    static func type(of column: ColumnDescription) -> String {
        if let native = column.native, native.storeType == "postgres" { return native.type }
        switch column.kind {
        case .bool: return "boolean"
        case .int: return "bigint"
        case .double: return "double precision"
        case .decimal:
            if let p = column.precision, let s = column.scale { return "numeric(\(p),\(s))" }
            return "numeric"
        case .string: return "text"
        case .bytes: return "bytea"
        case .timestamp: return "timestamptz"
        case .date: return "date"
        case .time: return "time"
        case .uuid: return "uuid"
        case .json: return "jsonb"
        }
    }

    /// `CREATE TABLE` for `table` with `columns` and a primary key on `keys`.
    static func createStatement(_ table: PostgresTableName, _ columns: [ColumnDescription], keys: [String]) -> String {
        var parts = columns.map { c in
            "\(PostgresSQL.ident(c.name)) \(type(of: c))\(c.nullable && !keys.contains(c.name) ? "" : " NOT NULL")"
        }
        parts.append("PRIMARY KEY (\(keys.map(PostgresSQL.ident).joined(separator: ", ")))")
        return "CREATE TABLE IF NOT EXISTS \(PostgresSQL.table(table)) (\(parts.joined(separator: ", ")))"
    }
}

extension PostgresSource: CollectionDescribing {
    public func describe(_ collection: CollectionSpec) async throws -> [ColumnDescription] {
        let (admin, config) = (self.admin, self.config)
        let table = config.table(collection.name)
        return try await worker.run {
            try admin.with("describing table \(table)") { conn throws(PostgresServerError) -> [ColumnDescription] in
                let r = try conn.exec("""
                    WITH c AS (
                        SELECT a.attnum, a.attname, a.attnotnull,
                               CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END AS oid,
                               CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS mod
                        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
                    SELECT attname, oid, mod, attnotnull, format_type(oid, mod) FROM c ORDER BY attnum
                    """, [PostgresSQL.table(table)])
                var columns = [ColumnDescription]()
                for row in 0..<r.rowCount {
                    let oid = r.value(row, 1).flatMap { UInt32($0) } ?? 0
                    let mod = r.value(row, 2).flatMap { Int32($0) } ?? -1
                    let typeText = r.value(row, 4) ?? ""
                    // Arrays of any element type (enums' too) arrive as arrays: JSON elsewhere.
                    let kind = typeText.hasSuffix("[]") ? ColumnKind.json : PostgresTableCreation.kind(ofType: oid)
                    var column = ColumnDescription(name: r.value(row, 0) ?? "", kind: kind, nullable: r.value(row, 3) != "t")
                    if oid == PostgresTypeOID.numeric, mod >= 4 {
                        column.precision = Int((mod - 4) >> 16 & 0xFFFF)
                        column.scale = Int((mod - 4) & 0xFFFF)
                    }
                    let elementOID = PostgresTypeOID.element(ofArray: oid) ?? oid
                    if elementOID < PostgresTableCreation.firstUserOID, !typeText.isEmpty { column.native = ("postgres", typeText) }
                    columns.append(column)
                }
                return columns
            }
        }
    }
}

extension PostgresSink: CollectionCreating {
    public func createIfMissing(_ collection: CollectionSpec, columns: [ColumnDescription]) async throws -> Bool {
        let state = self.state
        let config = self.config
        let table = config.table(collection.name)
        return try await worker.run {
            let conn = try state.connection()
            do throws(PostgresServerError) {
                if try conn.exec("SELECT to_regclass($1)", [PostgresSQL.table(table)]).value(0, 0) != nil { return false }
                try conn.exec(PostgresTableCreation.createStatement(table, columns, keys: collection.keyAttributes))
                return true
            } catch {
                throw PostgresAdmin.mapped(error, config, doing: "creating table \(table) (`create: true`)")
            }
        }
    }
}
