import DeltaConnector

extension MariaDBSource: PrerequisiteValidating {
    /// Checks the connection, the binlog settings (`log_bin`, `binlog_format=ROW`,
    /// `binlog_row_image=FULL`, `binlog_row_metadata=FULL`), the replication privileges and the
    /// tables; each problem comes with its fix.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let config = self.config
        return try await worker.run { MariaDBValidation.problems(config, collections, asSource: asSource, asSink: asSink) }
    }
}

extension MariaDBSink: PrerequisiteValidating {
    /// Checks the connection, the tables and their unique keys, the write privileges and the
    /// right to set `skip_replication`; each problem comes with its fix.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let config = self.config
        return try await worker.run { MariaDBValidation.problems(config, collections, asSource: asSource, asSink: asSink) }
    }
}

/// The prerequisite checks of a MariaDB store, shared by source and sink. Read-only.
enum MariaDBValidation {
    static func problems(_ config: MariaDBStoreConfig, _ collections: [CollectionSpec], asSource: Bool, asSink: Bool) -> [ValidationProblem] {
        let conn: MariaDBConnection
        do {
            conn = try MariaDBConnection.connect(config.url)
        } catch {
            let message = config.mapped(error, doing: "connecting").message
            guard let dash = message.firstRange(of: " — ") else {
                return [ValidationProblem(problem: message, fix: "check `url` (mysql://user:password@host:port/database) and that the server is running")]
            }
            return [ValidationProblem(problem: String(message[..<dash.lowerBound]), fix: String(message[dash.upperBound...]))]
        }
        defer { conn.close() }
        do {
            return try check(conn, config, collections, asSource: asSource, asSink: asSink)
        } catch {
            return [ValidationProblem(problem: "\(config.label): the checks failed: \(error)", fix: "check the connection and the user's privileges")]
        }
    }

    /// Whether the grants give `privilege` on all databases (or ALL PRIVILEGES).
    static func granted(_ grants: [String], _ privileges: [String]) -> Bool {
        grants.contains { line in
            let upper = line.uppercased()
            guard upper.contains(" ON *.* ") else { return false }
            return upper.contains("ALL PRIVILEGES") || privileges.contains { upper.contains($0) }
        }
    }

    private static func check(_ conn: MariaDBConnection, _ config: MariaDBStoreConfig, _ collections: [CollectionSpec],
                              asSource: Bool, asSink: Bool) throws -> [ValidationProblem] {
        var out: [ValidationProblem] = []
        let label = config.label
        let user = config.url.user
        let grants = try conn.query("SHOW GRANTS FOR CURRENT_USER()").rows.compactMap { $0.first.flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } }
        if asSource {
            let settings = try conn.query("SELECT @@global.log_bin, @@global.binlog_format, @@global.binlog_row_image, @@global.binlog_row_metadata")
            let expected: [(String, String, String)] = [("log_bin", "1", "add log_bin = mariadb-bin to the [mysqld] section of my.cnf and restart the server"),
                                                        ("binlog_format", "ROW", "SET GLOBAL binlog_format = 'ROW' and binlog_format = ROW in my.cnf"),
                                                        ("binlog_row_image", "FULL", "SET GLOBAL binlog_row_image = 'FULL' and binlog_row_image = FULL in my.cnf"),
                                                        ("binlog_row_metadata", "FULL", "SET GLOBAL binlog_row_metadata = 'FULL' and binlog_row_metadata = FULL in my.cnf (column names and signedness in the binlog)")]
            for (i, (name, want, fix)) in expected.enumerated() {
                let have = settings.text(0, i) ?? "?"
                if have.uppercased() != want {
                    out.append(ValidationProblem(problem: "\(label): \(name) is '\(have)', reading changes needs \(want == "1" ? "the binary log enabled" : want)", fix: fix))
                }
            }
            if !granted(grants, ["REPLICATION SLAVE", "REPLICATION REPLICA"]) {
                out.append(ValidationProblem(problem: "\(label): user '\(user)' lacks REPLICATION SLAVE, which reading the binlog needs",
                                             fix: "GRANT REPLICATION SLAVE ON *.* TO '\(user)'"))
            }
            if !granted(grants, ["BINLOG MONITOR", "REPLICATION CLIENT", "SUPER"]) {
                out.append(ValidationProblem(problem: "\(label): user '\(user)' lacks BINLOG MONITOR (REPLICATION CLIENT), which reading the binlog position needs",
                                             fix: "GRANT BINLOG MONITOR ON *.* TO '\(user)'"))
            }
        }
        if asSink {
            do {
                try conn.exec("SET SESSION skip_replication = 1")
                try conn.exec("SET SESSION skip_replication = 0")
            } catch {
                out.append(ValidationProblem(problem: "\(label): user '\(user)' may not set skip_replication (\(error.message)), which marks the bridge's writes so they are not read back as changes",
                                             fix: "GRANT BINLOG ADMIN ON *.* TO '\(user)'"))
            }
        }
        for c in collections {
            let name: MariaDBTableName
            do { name = try config.table(c.name) } catch let e as ConnectorError {
                out.append(ValidationProblem(problem: e.message, fix: "write the table as database.table"))
                continue
            }
            guard let schema = try MariaDBTableSchema.load(conn, name, jsonColumns: c.jsonAttributes) else {
                if c.createIfMissing { continue }  // created from a source's columns before the flow starts
                out.append(ValidationProblem(problem: "\(label): table \(name) does not exist", fix: "create it, or fix the table name in the pipeline"))
                continue
            }
            for k in c.keyAttributes where schema.column(k) == nil {
                out.append(ValidationProblem(problem: "\(label): table \(name) has no column '\(k)' named as key", fix: "fix `key` in the pipeline's mapping"))
            }
            if !schema.isUniqueKey(c.keyAttributes) {
                out.append(ValidationProblem(problem: "\(label): table \(name) has no PRIMARY KEY or UNIQUE index on (\(c.keyAttributes.joined(separator: ", ")))",
                                             fix: "ALTER TABLE \(name.sql) ADD PRIMARY KEY (\(c.keyAttributes.map(MariaDBSQL.ident).joined(separator: ", ")))"))
            }
            do {
                _ = try conn.query("SELECT 1 FROM \(name.sql) LIMIT 0")
            } catch {
                out.append(ValidationProblem(problem: "\(label): user '\(user)' cannot read \(name) (\(error.message))", fix: "GRANT SELECT ON \(name.sql) TO '\(user)'"))
            }
            if asSink {
                let tableGrants = try conn.query("SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = \(MariaDBSQL.string(name.database)) AND TABLE_NAME = \(MariaDBSQL.string(name.table)) UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA = \(MariaDBSQL.string(name.database)) UNION SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
                let have = Set(tableGrants.rows.indices.compactMap { tableGrants.text($0, 0)?.uppercased() })
                let missing = ["INSERT", "UPDATE", "DELETE"].filter { !have.contains($0) }
                if !missing.isEmpty {
                    out.append(ValidationProblem(problem: "\(label): user '\(user)' lacks \(missing.joined(separator: ", ")) on \(name), which writing needs",
                                                 fix: "GRANT SELECT, INSERT, UPDATE, DELETE ON \(name.sql) TO '\(user)'"))
                }
            }
        }
        return out
    }
}
