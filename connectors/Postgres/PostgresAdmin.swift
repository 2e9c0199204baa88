import DeltaCore
import DeltaConnector

/// Catalog and replication housekeeping shared by the source, the snapshot and validation: the
/// publication, the slot, the replication origin. Runs on a normal (non-replication) connection.
enum PostgresAdmin {
    /// A row of `pg_replication_slots`.
    struct SlotInfo {
        var plugin: String?
        var slotType: String
        var database: String?
        var walStatus: String?
        var confirmedFlush: LSN?
        var activePID: Int32?
    }

    static func slot(_ conn: PGConnection, _ name: String) throws(PostgresServerError) -> SlotInfo? {
        let r = try conn.exec("SELECT plugin, slot_type, database, wal_status, confirmed_flush_lsn, active_pid FROM pg_replication_slots WHERE slot_name = $1", [name])
        guard r.rowCount == 1 else { return nil }
        return SlotInfo(plugin: r.value(0, 0), slotType: r.value(0, 1) ?? "", database: r.value(0, 2), walStatus: r.value(0, 3),
                        confirmedFlush: r.value(0, 4).flatMap { LSN($0) }, activePID: r.value(0, 5).flatMap { Int32($0) })
    }

    static func currentDatabase(_ conn: PGConnection) throws(PostgresServerError) -> String {
        try conn.exec("SELECT current_database()").value(0, 0) ?? ""
    }

    /// Creates the publication `FOR TABLE` the tables when it is missing, or adds the tables it
    /// lacks (a publication `FOR ALL TABLES` already has them).
    static func ensurePublication(_ conn: PGConnection, _ config: PostgresStoreConfig, _ tables: [PostgresTableName]) throws {
        let unique = Array(Set(tables)).sorted { $0.description < $1.description }
        do throws(PostgresServerError) {
            let pub = try conn.exec("SELECT puballtables FROM pg_publication WHERE pubname = $1", [config.publication])
            if pub.rowCount == 0 {
                guard !unique.isEmpty else { return }
                try conn.exec("CREATE PUBLICATION \(PostgresSQL.ident(config.publication)) FOR TABLE " + unique.map(PostgresSQL.table).joined(separator: ", "))
                return
            }
            if pub.value(0, 0) == "t" { return }
            let existing = try conn.exec("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1", [config.publication])
            var have = Set<PostgresTableName>()
            for row in 0..<existing.rowCount {
                have.insert(PostgresTableName(schema: existing.value(row, 0) ?? "", name: existing.value(row, 1) ?? ""))
            }
            let missing = unique.filter { !have.contains($0) }
            if !missing.isEmpty {
                try conn.exec("ALTER PUBLICATION \(PostgresSQL.ident(config.publication)) ADD TABLE " + missing.map(PostgresSQL.table).joined(separator: ", "))
            }
        } catch {
            if error.isTransient { throw ConnectorError(.transient, "\(config.label): \(error.message) while preparing publication '\(config.publication)'") }
            throw ConnectorError(.permanent, "\(config.label): cannot create or extend publication '\(config.publication)' for \(unique.map(\.description).joined(separator: ", ")): \(error) — run it as the tables' owner (or a superuser), or create it yourself: CREATE PUBLICATION \(PostgresSQL.ident(config.publication)) FOR TABLE \(unique.map(PostgresSQL.table).joined(separator: ", "))")
        }
    }

    /// Checks that every table exists and has a key usable for streaming; throws a permanent
    /// error naming the first that does not.
    static func requireTables(_ conn: PGConnection, _ config: PostgresStoreConfig, _ collections: [CollectionSpec],
                              catalog: PostgresCatalog) throws -> [String: PostgresTableSchema] {
        var out = [String: PostgresTableSchema]()
        for spec in collections {
            let table = config.table(spec.name)
            let schema: PostgresTableSchema?
            do throws(PostgresServerError) {
                schema = try catalog.table(table, conn)
            } catch {
                throw mapped(error, config, doing: "reading the shape of table \(table)")
            }
            guard let schema else {
                throw ConnectorError(.permanent, "\(config.label): table \(table) does not exist — create it, or fix the table name (or `schema`) in the pipeline")
            }
            for key in spec.keyAttributes where !schema.hasColumn(key) {
                throw ConnectorError(.permanent, "\(config.label): table \(table) has no key column '\(key)' — fix the key in the pipeline's mapping")
            }
            out[spec.name] = schema
        }
        return out
    }

    /// Drops the slot, waiting up to `seconds` for a client that still holds it to let go.
    static func dropSlot(_ conn: PGConnection, _ config: PostgresStoreConfig, seconds: Int = 10) throws {
        let deadline = Monotonic.milliseconds() + Int64(seconds) * 1000
        while true {
            do {
                guard let info = try slot(conn, config.slot) else { return }
                if let pid = info.activePID {
                    if Monotonic.milliseconds() > deadline {
                        throw ConnectorError(.transient, "\(config.label): replication slot '\(config.slot)' is in use by process \(pid); cannot drop it for a new snapshot — stop the other client (or wait) and retry")
                    }
                    usleep(200_000)
                    continue
                }
                try conn.exec("SELECT pg_drop_replication_slot($1)", [config.slot])
                return
            } catch let error as PostgresServerError {
                if error.sqlState == "42704" { return }
                if error.sqlState == "55006" && Monotonic.milliseconds() <= deadline { usleep(200_000); continue }
                throw mapped(error, config, doing: "dropping replication slot '\(config.slot)'")
            }
        }
    }

    /// A server error as a ``ConnectorError`` naming the store and what was being done.
    static func mapped(_ error: PostgresServerError, _ config: PostgresStoreConfig, doing: String) -> ConnectorError {
        if error.isTransient {
            return ConnectorError(.transient, "\(config.label): \(error) while \(doing)")
        }
        var fix = ""
        switch error.sqlState {
        case "42501": fix = " — grant the bridge's role the privilege, or use a role that has it"
        case "42P01": fix = " — create the table, or fix the table name in the pipeline"
        case "55000" where error.message.contains("wal_level"): fix = " — set wal_level = logical in postgresql.conf and restart the server"
        case "53400": fix = " — raise max_replication_slots / max_wal_senders, or drop unused slots"
        default: break
        }
        return ConnectorError(.permanent, "\(config.label): \(error) while \(doing)\(fix)")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
