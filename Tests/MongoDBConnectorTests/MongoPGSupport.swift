import DeltaCore
import Foundation
@testable import PostgresConnector

/// A PostgreSQL database of its own for one test (DELTABRIDGE_PG_URL), dropped with its slots.
final class MongoPGDatabase: @unchecked Sendable {
    let name: String
    let url: String
    let serverURL: String
    let suffix: String
    let conn: PGConnection

    init() throws {
        serverURL = try MongoTestServer.environment("DELTABRIDGE_PG_URL")
        suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        name = "mdbt_" + suffix
        let admin = try PGConnection.connect(url: serverURL, replication: false, store: "test")
        defer { admin.close() }
        try admin.exec("CREATE DATABASE \(name)")
        var head = serverURL
        var query = ""
        if let q = head.firstIndex(of: "?") {
            query = String(head[q...])
            head = String(head[..<q])
        }
        let schemeEnd = head.range(of: "://")?.upperBound ?? head.startIndex
        if let slash = head[schemeEnd...].firstIndex(of: "/") { head = String(head[..<slash]) }
        url = head + "/" + name + query
        conn = try PGConnection.connect(url: url, replication: false, store: "test")
    }

    func store(_ base: String = "pg") -> String { "\(base)_\(suffix)" }

    func exec(_ sql: String, _ parameters: [String?] = []) throws {
        _ = try conn.exec(sql, parameters)
    }

    func rows(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let r = try conn.exec(sql, parameters)
        return (0..<r.rowCount).map { row in (0..<r.columnCount).map { r.value(row, $0) } }
    }

    func drop() {
        conn.close()
        guard let admin = try? PGConnection.connect(url: serverURL, replication: false, store: "test") else { return }
        defer { admin.close() }
        for _ in 0..<50 {
            _ = try? admin.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", [name])
            _ = try? admin.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", [name])
            if (try? admin.exec("SELECT 1 FROM pg_replication_slots WHERE database = $1", [name]).rowCount) == 0 { break }
            usleep(100_000)
        }
        _ = try? admin.exec("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE $1", ["%" + suffix])
        _ = try? admin.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}
