import Foundation
import SQLiteSupport
import Testing

/// The `deltabridge` binary with a MariaDB store (the shared test server): one-way into SQLite
/// (snapshot, then the binlog), `kill -9` and resume, two-way with conflicting edits converging,
/// echo suppression, and wrong credentials.
@Suite struct MariaDBEndToEndTests {
    static func pipeline(_ name: String, _ maria: MariaDBCLI, flow: String) -> String {
        """
        pipeline: \(name)
        stores:
          maria:
            type: mariadb
            url: "\(maria.url)"
          lite:
            type: sqlite
            path: lite.db
            init_sql: "CREATE TABLE IF NOT EXISTS people(id INTEGER PRIMARY KEY, name TEXT, email TEXT, score REAL, seen TEXT)"
        flows:
          - name: people
            \(flow)
            collections:
              - namespace: people
                stores:
                  maria: { table: people, key: id }
                  lite: { table: people, key: id }
        """
    }

    static let table = "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(50), score DOUBLE, seen DATETIME(6))"

    @Test func oneWayIntoSQLiteSnapshotThenStream() async throws {
        let maria = try MariaDBCLI()
        defer { maria.drop() }
        try maria.exec(Self.table)
        try maria.exec("INSERT INTO people VALUES (1, 'Ada', 'ada@x', 1.5, '2024-02-29 13:45:56.123456'), (2, 'Bo', NULL, NULL, NULL)")
        let box = try Sandbox()
        let file = try box.write("oneway.yaml", Self.pipeline("oneway", maria, flow: "from: maria\n    to: lite"))
        let first = try await runOnce(file, "oneway", in: box)
        #expect(first.events == 2 && first.writes == 2)
        let lite = box.file("lite.db")
        #expect(try DB.table(lite, "people") == [[i(1), t("Ada"), t("ada@x"), .double(1.5), t("2024-02-29T13:45:56.123456Z")], [i(2), t("Bo"), .null, .null, .null]])
        try maria.exec("INSERT INTO people VALUES (3, 'Cy', 'cy@x', 2, NULL); UPDATE people SET email = 'bo@x' WHERE id = 2; DELETE FROM people WHERE id = 1")
        let second = try await runOnce(file, "oneway", in: box)
        #expect(second.events == 3)
        #expect(try DB.table(lite, "people") == [[i(2), t("Bo"), t("bo@x"), .null, .null], [i(3), t("Cy"), t("cy@x"), .double(2), .null]])
        let lag = try await lagRows(file, in: box)
        #expect(lag.rows.contains { ($0.string("head") ?? "").hasPrefix("gtid:") }, "\(lag.text)")
    }

    @Test func killNineThenResumeLosesNothing() async throws {
        let maria = try MariaDBCLI()
        defer { maria.drop() }
        try maria.exec(Self.table)
        let box = try Sandbox()
        let file = try box.write("crash.yaml", Self.pipeline("crash", maria, flow: "from: maria\n    to: lite"))
        let lite = box.file("lite.db")
        var daemon = try Daemon(file, in: box)
        try maria.exec("INSERT INTO people (id, name) VALUES (0, 'probe')")
        try await eventually("the probe row to arrive", timeout: 30, detail: { daemon.stderr }) { (try? DB.int(lite, "SELECT count(*) FROM people WHERE id = 0")) == 1 }
        // A backlog in many transactions, then kill -9 while it streams.
        var batch: [String] = []
        for id in 1...400 { batch.append("INSERT INTO people (id, name, score) VALUES (\(id), 'n\(id)', \(id))") }
        try maria.exec(batch.joined(separator: ";"))
        try await eventually("some of the backlog to arrive", timeout: 30) { ((try? DB.int(lite, "SELECT count(*) FROM people")) ?? 0) > 1 }
        let killed = try await daemon.crash()
        #expect(killed.signalled)
        try maria.exec("UPDATE people SET name = CONCAT(name, '!') WHERE id % 7 = 0; DELETE FROM people WHERE id % 11 = 0")
        daemon = try Daemon(file, in: box)
        let expected = try maria.rows("SELECT COUNT(*), SUM(score), SUM(LENGTH(name)) FROM people")[0]
        let want = "\(expected[0]!) | \(expected[1]!) | \(expected[2]!)"
        let summary = "SELECT COUNT(*), CAST(SUM(score) AS INTEGER), SUM(LENGTH(name)) FROM people"
        try await eventually("every change to arrive after the restart", timeout: 60,
                             detail: { "want \(want), have \(show(try? DB.rows(lite, summary)))\n\(daemon.stderr)" }) {
            show(try? DB.rows(lite, summary)) == want
        }
        _ = try await daemon.terminate()
        #expect(try DB.int(lite, "SELECT count(*) FROM people WHERE id % 11 = 0 AND id > 0") == 0)
        #expect(try DB.int(lite, "SELECT count(*) FROM people WHERE id % 7 = 0 AND id > 0 AND name NOT LIKE '%!'") == 0)
    }

    @Test func twoWayConflictingEditsConvergeAndEchoesAreSilent() async throws {
        let maria = try MariaDBCLI()
        defer { maria.drop() }
        try maria.exec(Self.table)
        try maria.exec("INSERT INTO people (id, name, email) VALUES (1, 'Ada', 'ada@x'), (2, 'Bo', 'bo@x')")
        let box = try Sandbox()
        let file = try box.write("both.yaml", Self.pipeline("both", maria, flow: "two_way: [maria, lite]"))
        let lite = box.file("lite.db")
        _ = try await runOnceUntilQuiet(file, "both", in: box)
        try DB.exec(lite, "INSERT INTO people (id, name, email) VALUES (3, 'Cy', 'cy@lite')")
        _ = try await runOnceUntilQuiet(file, "both", in: box)
        #expect(try maria.rows("SELECT id, name, email FROM people ORDER BY id") == [["1", "Ada", "ada@x"], ["2", "Bo", "bo@x"], ["3", "Cy", "cy@lite"]])

        // Conflicts: different attributes of row 1 on each side both survive; the same attribute of
        // row 2 resolves to the later edit (SQLite's, made after MariaDB's whole-second binlog time).
        try maria.exec("UPDATE people SET name = 'Ada L' WHERE id = 1; UPDATE people SET email = 'bo@maria' WHERE id = 2")
        let next = Date().timeIntervalSince1970.rounded(.down) + 1
        try await eventually("the wall clock to reach the next second", timeout: 5) { Date().timeIntervalSince1970 >= next + 0.05 }
        try DB.exec(lite, "UPDATE people SET email = 'ada@lite' WHERE id = 1; UPDATE people SET email = 'bo@lite' WHERE id = 2; DELETE FROM people WHERE id = 3")
        _ = try await runOnceUntilQuiet(file, "both", in: box)
        let m = try maria.rows("SELECT id, name, email FROM people ORDER BY id")
        #expect(m == [["1", "Ada L", "ada@lite"], ["2", "Bo", "bo@lite"]])
        #expect(try DB.rows(lite, "SELECT id, name, email FROM people ORDER BY id") == [[i(1), t("Ada L"), t("ada@lite")], [i(2), t("Bo"), t("bo@lite")]])

        // The bridge's writes came back as echoes (skip_replication): nothing more to do.
        let quiet = try await runOnce(file, "both", in: box)
        #expect(quiet.deltas == 0 && quiet.writes == 0, "\(quiet)")
    }

    @Test func wrongCredentialsAreOneLineNamingTheFix() async throws {
        let maria = try MariaDBCLI()
        defer { maria.drop() }
        try maria.exec(Self.table)
        let box = try Sandbox()
        let bad = maria.url.replacingOccurrences(of: "mysql://root@", with: "mysql://nobody:pw9q7x@")
        let text = Self.pipeline("badcreds", maria, flow: "from: maria\n    to: lite").replacingOccurrences(of: maria.url, with: bad)
        let file = try box.write("bad.yaml", text)
        let r = try await deltabridge(["validate", file], in: box)
        #expect(r.exitCode == 2, "\(r)")
        #expect(r.stderr.contains("fix the user or password in the url"), "\(r)")
        #expect(!r.stderr.contains("pw9q7x"), "the password must not be printed: \(r)")
    }
}
