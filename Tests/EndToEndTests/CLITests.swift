import Foundation
import Testing

/// The inspection commands: validate, lag, history, resync, and every command's --help.
@Suite struct CLITests {
    static func pipeline(history: Bool) -> String {
        """
        pipeline: cli
        options: { history: \(history) }
        stores:
          left:
            type: sqlite
            path: left.db
            init_sql: "CREATE TABLE IF NOT EXISTS people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)"
          right:
            type: sqlite
            path: right.db
            init_sql: "CREATE TABLE IF NOT EXISTS people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)"
        flows:
          - name: people
            two_way: [left, right]
            collections:
              - namespace: people
                stores:
                  left:  { table: people, key: id, json: [prefs] }
                  right: { table: people, key: id, json: [prefs] }
        """
    }

    @Test func validateSaysOkForAGoodPipeline() async throws {
        let box = try Sandbox()
        let schema = "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)"
        try DB.exec(box.file("left.db"), schema)
        try DB.exec(box.file("right.db"), schema)
        let file = try box.write("cli.yaml", Self.pipeline(history: false))
        let r = try await deltabridge(["validate", file], in: box)
        #expect(r.exitCode == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("ok:") && lines[0].contains("cli"), "\(r)")
        #expect(r.stderr.isEmpty, "\(r)")
        #expect(!box.exists(".deltabridge"), "validate writes no ledger")
        #expect(try DB.tableNames(box.file("left.db")) == ["people"], "validate installs nothing in the stores")
    }

    @Test func validateReportsAMissingTableInOneLine() async throws {
        let box = try Sandbox()
        try DB.exec(box.file("left.db"), "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)")
        try DB.exec(box.file("right.db"), "CREATE TABLE persons(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)")
        let file = try box.write("cli.yaml", Self.pipeline(history: false).replacingOccurrences(of: "init_sql", with: "busy_timeout_ms: 1000\n    # init_sql"))
        let r = try await deltabridge(["validate", file], in: box)
        #expect(r.exitCode == 2, "\(r)")
        #expect(r.stderrLines.count == 1, "\(r)")
        #expect(r.stderr.contains("cli.yaml") && r.stderr.contains("'people'") && r.stderr.contains("right"), "\(r)")
        #expect(r.stderr.contains("fix"), "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
    }

    @Test func validateReportsAMissingDatabaseFile() async throws {
        let box = try Sandbox()
        try DB.exec(box.file("left.db"), "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)")
        let file = try box.write("cli.yaml", Self.pipeline(history: false).replacingOccurrences(of: "init_sql", with: "busy_timeout_ms: 1000\n    # init_sql"))
        let r = try await deltabridge(["validate", file], in: box)
        #expect(r.exitCode == 2, "\(r)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("right.db"), "\(r)")
        #expect(!box.exists("right.db"), "validate must not create the file")
    }

    @Test func lagJSONHasTheFieldsAndNothingBehindAfterOnce() async throws {
        let box = try Sandbox()
        let file = try box.write("cli.yaml", Self.pipeline(history: false))
        _ = try await runOnce(file, "cli", in: box)
        try DB.exec(box.file("left.db"), "INSERT INTO people VALUES (1, 'Ada', '{\"theme\":\"dark\"}'), (2, 'Brian', NULL)")
        try DB.exec(box.file("right.db"), "INSERT INTO people VALUES (3, 'Cleo', '[1,2]')")
        _ = try await runOnce(file, "cli", in: box)

        let (rows, text) = try await lagRows(file, in: box)
        #expect(rows.count == 2, "one row per source of the flow: \(text)")
        let expectedKeys: Set = ["pipeline", "flow", "source", "state", "head", "applied", "events_behind", "bytes_behind",
                                 "seconds_behind", "events_per_second", "applied_events"]
        for row in rows {
            #expect(row.keys == expectedKeys, "\(text)")
            #expect(row.string("pipeline") == "cli" && row.string("flow") == "people", "\(text)")
            #expect(row.string("state") == "streaming", "\(text)")
            #expect(row.int("events_behind") == 0, "\(text)")
            #expect(row.double("seconds_behind") == 0, "\(text)")
            #expect(row.string("head") != nil && row.string("head") == row.string("applied"), "\(text)")
            #expect((row.int("applied_events") ?? 0) > 0, "\(text)")
        }
        #expect(Set(rows.compactMap { $0.string("source") }) == ["left", "right"], "\(text)")

        // The table form has a header and one line per source.
        let table = try await deltabridge(["lag", file], in: box)
        #expect(table.exitCode == 0, "\(table)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 3 && lines[0].contains("PIPELINE") && lines[0].contains("BEHIND"), "\(table)")

        // New changes not yet applied show up as events behind.
        try DB.exec(box.file("left.db"), "UPDATE people SET name = 'Ada L' WHERE id = 1; UPDATE people SET name = 'B' WHERE id = 2")
        let behind = try await lagRows(file, in: box).rows
        #expect(behind.first { $0.string("source") == "left" }?.int("events_behind") == 2, "\(behind.map(\.fields))")
    }

    /// `lag` works "whether or not the daemon runs" and has a "not started" state: before the
    /// first run it should show that, not fail because the ledger does not exist yet.
    @Test func lagBeforeTheFirstRunShowsNotStarted() async throws {
        let box = try Sandbox()
        let schema = "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT)"
        try DB.exec(box.file("left.db"), schema)
        try DB.exec(box.file("right.db"), schema)
        let file = try box.write("cli.yaml", Self.pipeline(history: false))
        let before = try await lagRows(file, in: box).rows
        #expect(before.count == 2)
        #expect(before.allSatisfy { $0.string("state") == "not started" }, "\(before.map(\.fields))")
    }

    @Test func historyShowsEveryChangeOfADocument() async throws {
        let box = try Sandbox()
        let file = try box.write("cli.yaml", Self.pipeline(history: true))
        _ = try await runOnce(file, "cli", in: box)
        try DB.exec(box.file("left.db"), "INSERT INTO people VALUES (1, 'Ada', NULL)")
        _ = try await runOnce(file, "cli", in: box)
        try DB.exec(box.file("right.db"), "UPDATE people SET name = 'Ada Lovelace' WHERE id = 1")
        _ = try await runOnce(file, "cli", in: box)
        try DB.exec(box.file("left.db"), "UPDATE people SET prefs = '{\"theme\":\"light\"}' WHERE id = 1")
        _ = try await runOnce(file, "cli", in: box)

        let r = try await deltabridge(["history", file, "people", "1"], in: box)
        #expect(r.exitCode == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("left") && $0.contains("set name = \"Ada\"") }, "\(r)")
        #expect(lines.contains { $0.contains("right") && $0.contains("set name = \"Ada Lovelace\"") }, "\(r)")
        #expect(lines.contains { $0.contains("left") && $0.contains("set prefs") && $0.contains("light") }, "\(r)")
        #expect(lines.last?.hasPrefix("current state:") == true && lines.last?.contains("Ada Lovelace") == true, "\(r)")

        try DB.exec(box.file("right.db"), "DELETE FROM people WHERE id = 1")
        _ = try await runOnce(file, "cli", in: box)
        let deleted = try await deltabridge(["history", file, "people", "1"], in: box)
        #expect(deleted.stdout.contains("delete") && deleted.stdout.contains("current state: deleted"), "\(deleted)")

        let unknown = try await deltabridge(["history", file, "people", "99"], in: box)
        #expect(unknown.exitCode != 0 && unknown.stderrLines.count == 1, "\(unknown)")
    }

    @Test func historyWithoutHistoryOptionSaysHowToEnableIt() async throws {
        let box = try Sandbox()
        let file = try box.write("cli.yaml", Self.pipeline(history: false))
        _ = try await runOnce(file, "cli", in: box)
        let r = try await deltabridge(["history", file, "people", "1"], in: box)
        #expect(r.exitCode == 2, "\(r)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("history: true"), "\(r)")
    }

    @Test func resyncMakesTheNextRunSnapshotWithoutDuplicatingAnything() async throws {
        let box = try Sandbox()
        let file = try box.write("cli.yaml", Self.pipeline(history: true))
        try DB.exec(box.file("left.db"), "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, prefs TEXT); INSERT INTO people VALUES (1, 'Ada', NULL), (2, 'Brian', '{\"a\":1}')")
        let first = try await runOnce(file, "cli", in: box)
        #expect(first.writes == 2, "\(first)")
        let rowsBefore = try DB.table(box.file("right.db"), "people")
        let historyBefore = try DB.int(ledgerPath(box, "cli"), "SELECT count(*) FROM history")

        let r = try await deltabridge(["resync", file, "--flow", "people"], in: box)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains("people") && r.stdout.contains("snapshot"), "\(r)")
        let lag = try await lagRows(file, in: box).rows
        #expect(lag.allSatisfy { $0.string("state") == "not started" }, "after resync: \(lag.map(\.fields))")

        let again = try await deltabridge(["run", file, "--once"], in: box)
        #expect(again.exitCode == 0, "\(again)")
        #expect(again.stderr.contains("snapshot"), "the next run snapshots: \(again)")
        let s = try #require(again.summary("cli"))
        #expect(s.events == 4, "both sides snapshotted (2 rows each): \(s)")
        #expect(s.deltas == 0 && s.writes == 0, "a snapshot of what the ledger knows changes nothing: \(s)")
        #expect(try DB.table(box.file("right.db"), "people") == rowsBefore)
        #expect(try DB.table(box.file("left.db"), "people") == rowsBefore)
        #expect(try DB.int(ledgerPath(box, "cli"), "SELECT count(*) FROM history") == historyBefore)

        // Changes after the resync still flow.
        try DB.exec(box.file("right.db"), "UPDATE people SET name = 'Brian K' WHERE id = 2")
        _ = try await runOnce(file, "cli", in: box)
        #expect(try DB.rows(box.file("left.db"), "SELECT name FROM people WHERE id = 2") == [[t("Brian K")]])

        let unknown = try await deltabridge(["resync", file, "--flow", "nope"], in: box)
        #expect(unknown.exitCode == 2 && unknown.stderrLines.count == 1 && unknown.stderr.contains("people"), "\(unknown)")
    }

    @Test(arguments: ["run", "validate", "lag", "history", "resync"])
    func helpOfEachCommandHasAnExample(_ command: String) async throws {
        let box = try Sandbox()
        for args in [[command, "--help"], ["help", command]] {
            let r = try await deltabridge(args, in: box)
            #expect(r.exitCode == 0, "\(r)")
            let text = r.stdout + r.stderr
            #expect(text.contains("USAGE"), "\(args): \(r)")
            #expect(text.contains("deltabridge \(command) pipelines/"), "\(args) shows an example invocation: \(r)")
        }
    }

    @Test func topLevelHelpListsTheCommands() async throws {
        let box = try Sandbox()
        let r = try await deltabridge(["--help"], in: box)
        #expect(r.exitCode == 0, "\(r)")
        for command in ["run", "validate", "lag", "history", "resync"] {
            #expect(r.stdout.contains("  \(command) "), "\(command) listed: \(r)")
        }
        let bad = try await deltabridge(["frobnicate"], in: box)
        #expect(bad.exitCode != 0, "\(bad)")
    }
}
