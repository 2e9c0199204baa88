import DeltaConnector

extension PostgresSource: PrerequisiteValidating {
    /// Checks the connection, `wal_level`, the REPLICATION privilege, free slots and senders, and
    /// every table's key and replica identity; each problem comes with its fix.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let config = self.config
        return try await worker.run { PostgresValidation.problems(config, collections, asSource: asSource, asSink: asSink) }
    }
}

extension PostgresSink: PrerequisiteValidating {
    /// Checks the connection, the tables, their unique keys, the write privileges and the use of
    /// replication origins; each problem comes with its fix.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let config = self.config
        return try await worker.run { PostgresValidation.problems(config, collections, asSource: asSource, asSink: asSink) }
    }
}

/// The prerequisite checks of a PostgreSQL store, shared by source and sink. Read-only: it creates
/// no publication, slot or origin.
enum PostgresValidation {
    static func problems(_ config: PostgresStoreConfig, _ collections: [CollectionSpec], asSource: Bool, asSink: Bool) -> [ValidationProblem] {
        let conn: PGConnection
        do {
            conn = try PGConnection.connect(url: config.url, replication: false, store: config.store)
        } catch {
            return [ValidationProblem(problem: "\(error)", fix: "check `url` (host, port, user, password, database) and that the server is running and accepts the bridge in pg_hba.conf")]
        }
        defer { conn.close() }
        do {
            return try check(conn, config, collections, asSource: asSource, asSink: asSink)
        } catch {
            return [ValidationProblem(problem: "\(config.label): the checks failed: \(error)", fix: "check the connection and the bridge role's privileges on the catalog")]
        }
    }

    private static func check(_ conn: PGConnection, _ config: PostgresStoreConfig, _ collections: [CollectionSpec],
                              asSource: Bool, asSink: Bool) throws(PostgresServerError) -> [ValidationProblem] {
        var out: [ValidationProblem] = []
        let label = config.label
        let role = try conn.exec("SELECT current_user, rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user")
        let user = role.value(0, 0) ?? "?"
        let superuser = role.value(0, 1) == "t"
        let replication = role.value(0, 2) == "t"

        if asSource {
            let wal = try conn.exec("SHOW wal_level").value(0, 0) ?? "?"
            if wal != "logical" {
                out.append(ValidationProblem(problem: "\(label): wal_level is '\(wal)', logical replication needs 'logical'",
                                             fix: "ALTER SYSTEM SET wal_level = logical (or set it in postgresql.conf) and restart the server"))
            }
            if !superuser && !replication {
                out.append(ValidationProblem(problem: "\(label): role '\(user)' has neither the REPLICATION attribute nor superuser, which reading the change stream needs",
                                             fix: "ALTER ROLE \(PostgresSQL.ident(user)) REPLICATION (as a superuser)"))
            }
            let slots = try conn.exec("""
                SELECT current_setting('max_replication_slots')::int,
                       (SELECT count(*) FROM pg_replication_slots),
                       (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1),
                       current_setting('max_wal_senders')::int,
                       (SELECT count(*) FROM pg_stat_replication)
                """, [config.slot])
            let maxSlots = Int(slots.value(0, 0) ?? "0") ?? 0
            let used = Int(slots.value(0, 1) ?? "0") ?? 0
            let ours = (Int(slots.value(0, 2) ?? "0") ?? 0) > 0
            if !ours && used >= maxSlots {
                out.append(ValidationProblem(problem: "\(label): all \(maxSlots) replication slots are in use (max_replication_slots), none is left for slot '\(config.slot)'",
                                             fix: "raise max_replication_slots in postgresql.conf and restart, or drop unused slots with pg_drop_replication_slot(name)"))
            }
            let maxSenders = Int(slots.value(0, 3) ?? "0") ?? 0
            let senders = Int(slots.value(0, 4) ?? "0") ?? 0
            if senders >= maxSenders {
                out.append(ValidationProblem(problem: "\(label): all \(maxSenders) WAL senders are busy (max_wal_senders)",
                                             fix: "raise max_wal_senders in postgresql.conf and restart"))
            }
        }
        if asSink && !superuser {
            let may = try conn.exec("SELECT has_function_privilege('pg_replication_origin_session_setup(text)', 'EXECUTE')").value(0, 0) == "t"
            if !may {
                out.append(ValidationProblem(problem: "\(label): role '\(user)' may not use replication origins, which mark the bridge's own writes as echoes",
                                             fix: "use a superuser, or GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), pg_replication_origin_session_setup(text), pg_replication_origin_session_reset(), pg_replication_origin_xact_setup(pg_lsn, timestamptz) TO \(PostgresSQL.ident(user))"))
            }
        }

        let catalog = PostgresCatalog()
        var tables: [PostgresTableName] = []
        for spec in collections {
            let table = config.table(spec.name)
            tables.append(table)
            guard let schema = try catalog.table(table, conn) else {
                if spec.createIfMissing { continue }  // created from a source's columns before the flow starts
                out.append(ValidationProblem(problem: "\(label): table \(table) does not exist",
                                             fix: "create it, or fix the table name (or the store's `schema`) in the pipeline's mapping"))
                continue
            }
            if schema.kind != "r" && schema.kind != "p" {
                out.append(ValidationProblem(problem: "\(label): \(table) is not a table (relkind '\(schema.kind)')",
                                             fix: "map the underlying table instead"))
                continue
            }
            let missing = spec.keyAttributes.filter { !schema.hasColumn($0) }
            for key in missing {
                let hint = schema.columns.first { $0.name.lowercased() == key.lowercased() }.map { " (there is '\($0.name)': names are case-sensitive)" } ?? ""
                out.append(ValidationProblem(problem: "\(label): table \(table) has no key column '\(key)'\(hint)",
                                             fix: "fix the key in the pipeline's mapping, or add the column"))
            }
            if !missing.isEmpty { continue }
            let keys = spec.keyAttributes.map(PostgresSQL.ident).joined(separator: ", ")
            if (asSink || asSource) && !schema.isUniqueKey(spec.keyAttributes) {
                out.append(ValidationProblem(problem: "\(label): table \(table) has no PRIMARY KEY or UNIQUE index on (\(spec.keyAttributes.joined(separator: ", ")))",
                                             fix: "ALTER TABLE \(PostgresSQL.table(table)) ADD PRIMARY KEY (\(keys)), or key the mapping on the primary key"))
            }
            if asSource {
                switch schema.replicaIdentity {
                case "n":
                    out.append(ValidationProblem(problem: "\(label): table \(table) has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be published",
                                                 fix: "ALTER TABLE \(PostgresSQL.table(table)) REPLICA IDENTITY DEFAULT (with a primary key) or FULL"))
                case "d" where schema.primaryKey.isEmpty:
                    out.append(ValidationProblem(problem: "\(label): table \(table) has no primary key, so with REPLICA IDENTITY DEFAULT its updates and deletes cannot be published",
                                                 fix: "ALTER TABLE \(PostgresSQL.table(table)) ADD PRIMARY KEY (\(keys)), or REPLICA IDENTITY FULL"))
                case "d", "i":
                    let identity = schema.replicaIdentity == "d" ? schema.primaryKey : schema.replicaIdentityIndex
                    let notCovered = spec.keyAttributes.filter { !identity.contains($0) }
                    if !notCovered.isEmpty {
                        out.append(ValidationProblem(problem: "\(label): deletes from \(table) carry only its replica identity (\(identity.joined(separator: ", "))), not the mapping's key (\(spec.keyAttributes.joined(separator: ", ")))",
                                                     fix: "key the mapping on (\(identity.joined(separator: ", "))), or ALTER TABLE \(PostgresSQL.table(table)) REPLICA IDENTITY FULL"))
                    }
                default:
                    break
                }
                if !superuser {
                    let owner = try conn.exec("SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass($1)", [PostgresSQL.table(table)])
                    let select = try conn.exec("SELECT has_table_privilege($1, 'SELECT')", [PostgresSQL.table(table)])
                    if select.value(0, 0) != "t" {
                        out.append(ValidationProblem(problem: "\(label): role '\(user)' may not read \(table) (needed for the snapshot)",
                                                     fix: "GRANT SELECT ON \(PostgresSQL.table(table)) TO \(PostgresSQL.ident(user))"))
                    }
                    let inPublication = try conn.exec("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
                                                      [config.publication, table.schema, table.name]).rowCount > 0
                    if !inPublication && owner.value(0, 0) != "t" {
                        out.append(ValidationProblem(problem: "\(label): publication '\(config.publication)' does not include \(table), and role '\(user)' does not own the table to add it",
                                                     fix: "as the owner: CREATE PUBLICATION \(PostgresSQL.ident(config.publication)) FOR TABLE \(PostgresSQL.table(table)) (or ALTER PUBLICATION … ADD TABLE)"))
                    }
                }
            }
            if asSink && !superuser {
                let r = try conn.exec("SELECT has_table_privilege($1, 'INSERT'), has_table_privilege($1, 'UPDATE'), has_table_privilege($1, 'DELETE')", [PostgresSQL.table(table)])
                let lacking = zip(["INSERT", "UPDATE", "DELETE"], [0, 1, 2]).filter { r.value(0, $0.1) != "t" }.map(\.0)
                if !lacking.isEmpty {
                    out.append(ValidationProblem(problem: "\(label): role '\(user)' lacks \(lacking.joined(separator: ", ")) on \(table)",
                                                 fix: "GRANT \(lacking.joined(separator: ", ")) ON \(PostgresSQL.table(table)) TO \(PostgresSQL.ident(user))"))
                }
            }
        }
        return out
    }
}
