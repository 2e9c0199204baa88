import Foundation
import SQLiteSupport
import Testing

/// A database of its own on the test PostgreSQL (`DELTABRIDGE_PG_URL`), driven through `psql`
/// as an application would; ``drop()`` removes it with its replication slots.
struct E2EPostgresDatabase {
    let name: String
    let url: String
    let serverURL: String

    init() throws {
        guard let server = ProcessInfo.processInfo.environment["DELTABRIDGE_PG_URL"], !server.isEmpty else {
            throw E2EFailure("DELTABRIDGE_PG_URL is not set: these end-to-end tests need PostgreSQL — run them through scripts/test.sh, or start one with scripts/dev-servers.sh")
        }
        serverURL = server
        name = "e2e_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        url = Self.url(server, database: name)
        try Self.psql(server, "CREATE DATABASE \(name)")
    }

    static func url(_ base: String, database: String) -> String {
        var head = base
        var query = ""
        if let q = head.firstIndex(of: "?") {
            query = String(head[q...])
            head = String(head[..<q])
        }
        let schemeEnd = head.range(of: "://")?.upperBound ?? head.startIndex
        if let slash = head[schemeEnd...].firstIndex(of: "/") { head = String(head[..<slash]) }
        return head + "/" + database + query
    }

    /// Runs `sql` with psql (one transaction when it holds several statements) and returns the
    /// unaligned, tuples-only output.
    @discardableResult
    static func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw E2EFailure("psql failed on `\(sql.prefix(200))`: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    func exec(_ sql: String) throws -> String { try Self.psql(url, sql) }

    func int(_ sql: String) throws -> Int64 {
        let text = try exec(sql)
        guard let n = Int64(text) else { throw E2EFailure("expected a number from `\(sql)`, got `\(text)`") }
        return n
    }

    func drop() {
        _ = try? Self.psql(serverURL, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '\(name)' AND active")
        _ = try? Self.psql(serverURL, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '\(name)'")
        _ = try? Self.psql(serverURL, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// `kill -9` of the bridge while it applies one large PostgreSQL transaction.
@Suite struct PostgresCrashTests {
    @Test func killNineMidTransactionThenRestartLosesNothingAndRecordsNothingTwice() async throws {
        let pg = try E2EPostgresDatabase()
        defer { pg.drop() }
        let box = try Sandbox()
        try pg.exec("CREATE TABLE items(id int PRIMARY KEY, n int NOT NULL, label text)")
        try pg.exec("INSERT INTO items VALUES (0, 1, 'probe')")
        let dst = box.file("dst.db")
        try DB.exec(dst, CrashAndRetryTests.auditedTarget)
        let slot = "e2e_" + pg.name.dropFirst(4)
        let file = try box.write("pgcrash.yaml", """
            pipeline: pgcrash
            options: { history: true, batch_size: 2000 }
            stores:
              src: { type: postgres, url: "\(pg.url)", slot: \(slot), publication: \(slot) }
              dst: { type: sqlite, path: dst.db }
            flows:
              - name: items
                from: src
                to: dst
                collections:
                  - namespace: items
                    stores:
                      src: { table: items, key: id }
                      dst: { table: items, key: id }
            """)

        var daemon = try Daemon(file, in: box)
        try await eventually("the probe row to arrive", timeout: 30) { (try? DB.int(dst, "SELECT count(*) FROM items WHERE id = 0")) == 1 }

        // One transaction of 20,000 row changes: 10,000 inserts, then an update of each.
        let rows: Int64 = 10_000
        try pg.exec("INSERT INTO items SELECT g, 1, 'item ' || g FROM generate_series(1, \(rows)) g; UPDATE items SET n = 2 WHERE id > 0")
        try await eventually("the large transaction to start arriving", timeout: 60, poll: 0.005) {
            (try? DB.int(dst, "SELECT count(*) FROM items")) ?? 0 > 1
        }
        let killed = try await daemon.crash()
        #expect(killed.signalled)
        let atKill = try DB.int(dst, "SELECT count(*) FROM items WHERE n = 2") ?? 0
        if atKill == rows { print("note: the whole transaction had been applied before kill -9") }

        // More writes while the bridge is down.
        try pg.exec("UPDATE items SET n = n + 1 WHERE id > 0")
        try pg.exec("UPDATE items SET label = 'renamed ' || id WHERE id % 7 = 0; DELETE FROM items WHERE id % 10 = 0")

        daemon = try Daemon(file, in: box)
        let expected = try pg.exec("SELECT count(*) || ':' || sum(id::bigint * 31 + n) || ':' || sum(length(label)) FROM items")
        try await eventually("the target to match the source after the restart", timeout: 120, poll: 0.2, detail: {
            "target \((try? DB.int(dst, "SELECT count(*) FROM items")) ?? -1) rows\n--- daemon stderr:\n\(daemon.stderr.suffix(3000))"
        }) {
            (try? DB.rows(dst, "SELECT count(*) || ':' || sum(id * 31 + n) || ':' || sum(length(label)) FROM items")) == [[.text(expected)]]
        }
        let stop = try await daemon.terminate(timeout: 15)
        #expect(stop.exitCode == 0 && !stop.signalled, "\(stop)")
        #expect(try DB.rows(dst, "SELECT DISTINCT n FROM items WHERE id > 0") == [[i(3)]])

        // Nothing recorded twice: every row's counter has the same number of history entries (a
        // replay recorded again would add entries, with new stamps, to the replayed rows only).
        let history = try DB.rows(ledgerPath(box, "pgcrash"),
                                  "SELECT DISTINCT c FROM (SELECT count(*) AS c FROM history WHERE ns = 'items' AND name = 'n' AND key != 0 GROUP BY key)")
        #expect(history.count == 1, "history entries of n per row differ between rows: \(history)")

        // Nothing applied twice beyond the one batch in flight at the kill (at-least-once, DESIGN §4).
        let maxWrites = try DB.int(dst, "SELECT max(writes) FROM audit WHERE id > 0") ?? 0
        #expect(maxWrites <= 5, "a row was written \(maxWrites) times for at most 4 changes")
    }
}
