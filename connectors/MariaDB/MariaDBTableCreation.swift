import DeltaConnector

/// `create: true`: a MariaDB source describes its tables' columns from `information_schema`, and
/// a MariaDB sink creates a missing table from such a description — with the exact column type
/// when the source is MariaDB too, else a type that holds the kind's values (key columns get
/// indexable types: `VARCHAR(255)`, `VARBINARY(255)`).
enum MariaDBTableCreation {
    static func kind(dataType: String, columnType: String) -> ColumnKind {
        switch dataType.lowercased() {
        case "tinyint" where columnType.lowercased().hasPrefix("tinyint(1)"): return .bool
        case "tinyint", "smallint", "mediumint", "int", "bigint", "year", "bit":
            return columnType.lowercased().contains("bigint") && columnType.lowercased().contains("unsigned") ? .decimal : .int
        case "decimal": return .decimal
        case "float", "double": return .double
        case "date": return .date
        case "datetime", "timestamp": return .timestamp
        case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point", "linestring", "polygon": return .bytes
        case "uuid": return .uuid
        case "json": return .json
        default: return .string
        }
    }

    static func type(of column: ColumnDescription, isKey: Bool) -> String {
        if let native = column.native, native.storeType == "mariadb" { return native.type }
        switch column.kind {
        case .bool: return "BOOLEAN"
        case .int: return "BIGINT"
        case .double: return "DOUBLE"
        case .decimal:
            if let p = column.precision, let s = column.scale, p <= 65, s <= 30 { return "DECIMAL(\(max(p, 1)),\(s))" }
            return "DECIMAL(65,30)"
        case .string: return isKey ? "VARCHAR(255)" : "LONGTEXT"
        case .bytes: return isKey ? "VARBINARY(255)" : "LONGBLOB"
        case .timestamp: return "DATETIME(6)"
        case .date: return "DATE"
        case .time: return "TIME(6)"
        case .uuid: return "UUID"
        case .json: return "JSON"
        }
    }

    static func createStatement(_ table: MariaDBTableName, _ columns: [ColumnDescription], keys: [String]) -> String {
        var parts = columns.map { c in
            let isKey = keys.contains(c.name)
            return "\(MariaDBSQL.ident(c.name)) \(type(of: c, isKey: isKey))\(c.nullable && !isKey ? "" : " NOT NULL")"
        }
        parts.append("PRIMARY KEY (\(keys.map(MariaDBSQL.ident).joined(separator: ", ")))")
        return "CREATE TABLE IF NOT EXISTS \(table.sql) (\(parts.joined(separator: ", "))) DEFAULT CHARSET = utf8mb4"
    }
}

extension MariaDBSource: CollectionDescribing {
    public func describe(_ collection: CollectionSpec) async throws -> [ColumnDescription] {
        let (admin, config) = (self.admin, self.config)
        let table = try config.table(collection.name)
        return try await worker.run {
            let result = try admin.with("describing table \(table)") { conn throws(MariaDBServerError) in
                try conn.query("""
                    SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE,
                           EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k
                                   WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
                                     AND k.CHECK_CLAUSE LIKE CONCAT('json_valid(`', c.COLUMN_NAME, '`)'))
                    FROM information_schema.COLUMNS c
                    WHERE TABLE_SCHEMA = \(MariaDBSQL.string(table.database)) AND TABLE_NAME = \(MariaDBSQL.string(table.table))
                      AND EXTRA NOT LIKE '%GENERATED%'
                    ORDER BY ORDINAL_POSITION
                    """)
            }
            guard !result.rows.isEmpty else {
                throw ConnectorError(.permanent, "\(config.label): table \(table) does not exist — create it, or fix the table name in the pipeline")
            }
            var columns = [ColumnDescription]()
            for row in 0..<result.rows.count {
                let name = result.text(row, 0) ?? ""
                let dataType = result.text(row, 1) ?? ""
                let columnType = result.text(row, 2) ?? dataType
                let isJSON = result.text(row, 6) == "1" || collection.jsonAttributes.contains(name)
                var column = ColumnDescription(name: name, kind: isJSON ? .json : MariaDBTableCreation.kind(dataType: dataType, columnType: columnType),
                                               nullable: result.text(row, 3) == "YES", native: ("mariadb", isJSON ? "JSON" : columnType))
                if dataType.lowercased() == "decimal" {
                    column.precision = result.text(row, 4).flatMap { Int($0) }
                    column.scale = result.text(row, 5).flatMap { Int($0) }
                }
                columns.append(column)
            }
            return columns
        }
    }
}

extension MariaDBSink: CollectionCreating {
    public func createIfMissing(_ collection: CollectionSpec, columns: [ColumnDescription]) async throws -> Bool {
        let (state, config) = (self.state, self.config)
        let table = try config.table(collection.name)
        return try await worker.run {
            let conn = try state.connection()
            do throws(MariaDBServerError) {
                let exists = try conn.query("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(MariaDBSQL.string(table.database)) AND TABLE_NAME = \(MariaDBSQL.string(table.table))")
                if !exists.rows.isEmpty { return false }
                try conn.exec(MariaDBTableCreation.createStatement(table, columns, keys: collection.keyAttributes))
                return true
            } catch {
                throw config.mapped(error, doing: "creating table \(table) (`create: true`)")
            }
        }
    }
}
