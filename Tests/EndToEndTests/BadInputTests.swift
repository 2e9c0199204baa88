import Foundation
import Testing

/// Bad pipeline files and values a target cannot hold (DESIGN §5).
@Suite struct BadInputTests {
    /// A valid one-way pipeline from `src.db` to `dst.db`, with `edit` applied to its text.
    static func pipeline(_ edit: (String) -> String = { $0 }) -> String {
        edit("""
            pipeline: bad
            stores:
              src:
                type: sqlite
                path: src.db
              dst:
                type: sqlite
                path: dst.db
            flows:
              - name: t
                from: src
                to: dst
                collections:
                  - namespace: t
                    exclude: [secret]
                    stores:
                      src: { table: t, key: id }
                      dst: { table: t, key: id }
            """)
    }

    struct BadFile: CustomTestStringConvertible, Sendable {
        let name: String
        let text: String
        /// A word the message must contain, besides the file name.
        let mentions: String
        var testDescription: String { name }
    }

    static let badFiles: [BadFile] = [
        BadFile(name: "broken YAML", text: pipeline { $0.replacingOccurrences(of: "src: { table: t, key: id }", with: "src: { table: t, key: id") },
                mentions: "YAML"),
        BadFile(name: "tab-indented YAML", text: pipeline { $0.replacingOccurrences(of: "    path: src.db", with: "\tpath: src.db") },
                mentions: "YAML"),
        BadFile(name: "unknown store type", text: pipeline { $0.replacingOccurrences(of: "type: sqlite\n    path: dst.db", with: "type: sqlit\n    path: dst.db") },
                mentions: "sqlit"),
        BadFile(name: "unknown top-level key", text: pipeline { $0.replacingOccurrences(of: "flows:", with: "flowz:") },
                mentions: "flowz"),
        BadFile(name: "unknown store setting", text: pipeline { $0.replacingOccurrences(of: "path: dst.db", with: "path: dst.db\n    colour: red") },
                mentions: "colour"),
        BadFile(name: "unknown mapping key", text: pipeline { $0.replacingOccurrences(of: "dst: { table: t, key: id }", with: "dst: { table: t, kee: id }") },
                mentions: "kee"),
        BadFile(name: "unset environment variable", text: pipeline { $0.replacingOccurrences(of: "path: dst.db", with: "path: ${DELTABRIDGE_E2E_UNSET_VAR}/dst.db") },
                mentions: "DELTABRIDGE_E2E_UNSET_VAR"),
        BadFile(name: "flow naming an undefined store", text: pipeline { $0.replacingOccurrences(of: "to: dst", with: "to: dts") },
                mentions: "dts"),
    ]

    /// Source with one row, empty target.
    static func stores(_ box: Sandbox) throws {
        try DB.exec(box.file("src.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, secret TEXT); INSERT INTO t VALUES (1, 'Ada', 's')")
        try DB.exec(box.file("dst.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, secret TEXT)")
    }

    @Test(arguments: badFiles)
    func badFileExitsTwoWithOneLineNamingTheFileAndNothingIsWritten(_ bad: BadFile) async throws {
        let box = try Sandbox()
        try Self.stores(box)
        let file = try box.write("bad.yaml", bad.text)
        let srcTablesBefore = try DB.tableNames(box.file("src.db"))
        for command in [["run", file, "--once"], ["run", file], ["validate", file], ["lag", file]] {
            let r = try await deltabridge(command, in: box, unset: ["DELTABRIDGE_E2E_UNSET_VAR"], timeout: 10)
            #expect(r.exitCode == 2 && !r.signalled, "\(command[0]): \(r)")
            #expect(r.stderrLines.count == 1, "\(command[0]): one line on stderr: \(r)")
            let line = r.stderrLines.first ?? ""
            #expect(line.contains("bad.yaml"), "\(command[0]): the message names the file: \(line)")
            #expect(line.contains(bad.mentions), "\(command[0]): the message names the problem: \(line)")
            #expect(line.contains(" — ") || line.contains("fix"), "\(command[0]): the message gives a fix: \(line)")
            #expect(!line.contains("Fatal error") && !line.contains("Stack"), "\(line)")
        }
        #expect(try DB.table(box.file("dst.db"), "t").isEmpty, "the target is untouched")
        #expect(try DB.tableNames(box.file("src.db")) == srcTablesBefore, "the source is untouched")
        #expect(!box.exists(".deltabridge"), "no ledger is created for a file that does not load")
    }

    /// A mapping to a table that does not exist is bad input (DESIGN §5, exit code 2): one line
    /// naming the pipeline file, with a fix, and nothing written — for `validate` and for `run`.
    /// (Observed for `run --once`: exit 1, four stderr lines naming the database but not the
    /// pipeline file; the source's change log is installed and a ledger is created first.)
    @Test func mappingToAMissingTableIsBadInputForRun() async throws {
        let box = try Sandbox()
        try DB.exec(box.file("src.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, secret TEXT); INSERT INTO t VALUES (1, 'Ada', 's')")
        try DB.exec(box.file("dst.db"), "CREATE TABLE other(id INTEGER PRIMARY KEY)")
        let file = try box.write("bad.yaml", Self.pipeline())

        let validate = try await deltabridge(["validate", file], in: box)
        #expect(validate.exitCode == 2, "\(validate)")
        #expect(validate.stderrLines.count == 1, "\(validate)")
        #expect(validate.stderr.contains("bad.yaml") && validate.stderr.contains("'t'") && validate.stderr.contains("fix"), "\(validate)")

        let run = try await deltabridge(["run", file, "--once"], in: box)
        #expect(run.exitCode == 2, "run --once with a missing target table: \(run)")
        #expect(run.stderrLines.count == 1, "one line on stderr: \(run)")
        #expect(run.stderr.contains("bad.yaml"), "the message names the pipeline file: \(run)")
        #expect(run.stderr.contains("'t'") && run.stderr.contains("dst.db"), "\(run)")
        #expect(try DB.tableNames(box.file("dst.db")) == ["other"], "the target is untouched")
    }

    /// A daemon started on a pipeline with a missing table refuses to start: one line naming the
    /// file and the fix, exit 2, and nothing installed in the source or written to the target.
    @Test func daemonWithAMissingTableReportsItAndExits() async throws {
        let box = try Sandbox()
        try DB.exec(box.file("src.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, secret TEXT); INSERT INTO t VALUES (1, 'Ada', 's')")
        try DB.exec(box.file("dst.db"), "CREATE TABLE other(id INTEGER PRIMARY KEY)")
        let file = try box.write("bad.yaml", Self.pipeline())
        let daemon = try Daemon(file, in: box)
        let deadline = Date().addingTimeInterval(20)
        while daemon.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!daemon.isRunning, "the daemon should refuse to start")
        let end = try await daemon.terminate()
        #expect(end.exitCode == 2, "\(end)")
        #expect(end.stderr.contains("bad.yaml") && end.stderr.contains("table 't' does not exist"), "\(end)")
        #expect(try DB.tableNames(box.file("src.db")) == ["t"], "no change log installed in the source")
        #expect(try DB.tableNames(box.file("dst.db")) == ["other"], "the target is untouched")
    }

    /// Values the target cannot hold go to the dead-letter table with the reason; the other rows
    /// still arrive, and the run exits 0.
    @Test func rowsTheTargetRefusesGoToDeadLetters() async throws {
        let box = try Sandbox()
        try DB.exec(box.file("src.db"), """
            CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, age, secret TEXT);
            INSERT INTO t VALUES (1, 'Ada', 36, NULL), (2, 'Bartholomew', 40, NULL), (3, 'Cy', 5, NULL), (4, NULL, 1, NULL), (5, 'Eve', 'unknown', NULL);
            """)
        try DB.exec(box.file("dst.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (length(name) < 5), age INTEGER, secret TEXT) STRICT")
        let file = try box.write("dl.yaml", Self.pipeline { $0.replacingOccurrences(of: "pipeline: bad", with: "pipeline: dl") })

        let r = try await deltabridge(["run", file, "--once"], in: box)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.summary("dl")?.deadLetters == 3, "\(r)")
        #expect(try DB.table(box.file("dst.db"), "t") == [[i(1), t("Ada"), i(36), null], [i(3), t("Cy"), i(5), null]])

        let ledger = box.file(".deltabridge/dl.ledger.sqlite")
        let letters = try DB.rows(ledger, "SELECT key, store, ns, flow, reason FROM dead_letters ORDER BY key")
        #expect(letters.count == 3, "\(letters)")
        let byKey = Dictionary(letters.map { row -> (String, String) in
            guard case let .text(key) = row[0], case let .text(reason) = row[4] else { return ("?", "?") }
            return (key, reason)
        }, uniquingKeysWith: { a, _ in a })
        #expect(letters.allSatisfy { $0[1] == t("dst") && $0[2] == t("t") && $0[3] == t("t") }, "\(letters)")
        #expect(byKey["2"]?.contains("CHECK constraint failed") == true && byKey["2"]?.contains("'t'") == true, "\(byKey)")
        #expect(byKey["4"]?.contains("NOT NULL") == true && byKey["4"]?.contains("t.name") == true, "\(byKey)")
        #expect(byKey["5"]?.contains("age") == true, "the reason names the column: \(byKey)")

        // A dead letter is not retried over and over: the next run writes nothing new.
        let again = try await runOnce(file, "dl", in: box)
        #expect(again.deadLetters == 0 && again.writes == 0, "\(again)")
        #expect(try DB.int(ledger, "SELECT count(*) FROM dead_letters") == 3)
    }

    /// Once the application fixes a refused row at the source, the whole row must arrive — not
    /// only the attributes of the fixing update (rule 10: when writes stop, stores agree).
    @Test func refusedRowFixedAtTheSourceArrivesComplete() async throws {
        let box = try Sandbox()
        try DB.exec(box.file("src.db"), """
            CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, note TEXT, secret TEXT);
            INSERT INTO t VALUES (1, 'Ada', 'first', NULL), (2, 'Bartholomew', 'keep me', NULL);
            """)
        try DB.exec(box.file("dst.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT CHECK (length(name) < 5), note TEXT, secret TEXT)")
        let file = try box.write("fix.yaml", Self.pipeline { $0.replacingOccurrences(of: "pipeline: bad", with: "pipeline: fix") })
        let first = try await runOnce(file, "fix", in: box)
        #expect(first.deadLetters == 1, "\(first)")
        try DB.exec(box.file("src.db"), "UPDATE t SET name = 'Bart' WHERE id = 2")
        _ = try await runOnce(file, "fix", in: box)
        #expect(try DB.table(box.file("dst.db"), "t") == [[i(1), t("Ada"), t("first"), null], [i(2), t("Bart"), t("keep me"), null]])
    }
}
