import Foundation
import Testing

/// `deltabridge run FILE` as a long-running child process: live propagation and graceful stop.
@Suite struct DaemonTests {
    static let pipeline = """
        pipeline: live
        stores:
          left:
            type: sqlite
            path: left.db
            init_sql: "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT, y TEXT)"
          right:
            type: sqlite
            path: right.db
            init_sql: "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT, y TEXT)"
        flows:
          - name: t
            two_way: [left, right]
            collections:
              - namespace: t
                stores:
                  left:  { table: t, key: id }
                  right: { table: t, key: id }
        """

    @Test func daemonPropagatesBothWaysAndStopsOnSigterm() async throws {
        let box = try Sandbox()
        let file = try box.write("live.yaml", Self.pipeline)
        let left = box.file("left.db"), right = box.file("right.db")
        let daemon = try Daemon(file, in: box)

        // The daemon creates both files; then an application writes on either side.
        try await eventually("both stores created") {
            DB.tableIfReadable(left, "t") != nil && DB.tableIfReadable(right, "t") != nil
        }
        try DB.exec(left, "INSERT INTO t VALUES (1, 'L', NULL)")
        try await eventually("row 1 on the right") { DB.tableIfReadable(right, "t") == [[i(1), t("L"), null]] }
        try DB.exec(right, "INSERT INTO t VALUES (2, NULL, 'R')")
        try await eventually("row 2 on the left") { DB.tableIfReadable(left, "t")?.count == 2 }

        // Different columns of one row, edited on both sides while the daemon runs.
        try DB.exec(left, "UPDATE t SET y = 'from left' WHERE id = 1")
        try DB.exec(right, "UPDATE t SET x = 'from right' WHERE id = 1; UPDATE t SET x = 'x2' WHERE id = 2")
        var expected: [Row] = [[i(1), t("from right"), t("from left")], [i(2), t("x2"), t("R")]]
        try await eventually("both sides converge", detail: {
            "left:\n\(show(DB.tableIfReadable(left, "t")))\nright:\n\(show(DB.tableIfReadable(right, "t")))\n--- daemon stderr:\n\(daemon.stderr)"
        }) {
            DB.tableIfReadable(left, "t") == expected && DB.tableIfReadable(right, "t") == expected
        }
        // A delete travels too.
        try DB.exec(right, "DELETE FROM t WHERE id = 1")
        expected = [[i(2), t("x2"), t("R")]]
        try await eventually("the delete to arrive", detail: {
            "left:\n\(show(DB.tableIfReadable(left, "t")))\nright:\n\(show(DB.tableIfReadable(right, "t")))\n--- daemon stderr:\n\(daemon.stderr)"
        }) {
            DB.tableIfReadable(left, "t") == expected && DB.tableIfReadable(right, "t") == expected
        }
        #expect(daemon.isRunning, "\(daemon.stderr)")

        let stop = try await daemon.terminate(timeout: 10)
        #expect(!stop.signalled && stop.exitCode == 0, "SIGTERM must end the daemon with exit 0: \(stop)")

        // Everything the daemon did is checkpointed: a run afterwards finds nothing to do.
        let after = try await runOnce(file, "live", in: box)
        #expect(after.deltas == 0 && after.writes == 0, "\(after)")
    }

    /// An application edits one column again and again, each time after the previous value
    /// reached the other side. The other side's change log then often holds two of the bridge's
    /// writes at once (its stream polls less often when idle); every value must still arrive.
    @Test func successiveEditsOfOneColumnAllArrive() async throws {
        let box = try Sandbox()
        let file = try box.write("live.yaml", Self.pipeline)
        let left = box.file("left.db"), right = box.file("right.db")
        let daemon = try Daemon(file, in: box)
        try await eventually("both stores created") {
            DB.tableIfReadable(left, "t") != nil && DB.tableIfReadable(right, "t") != nil
        }
        try DB.exec(left, "INSERT INTO t VALUES (1, 'v0', NULL)")
        for n in 0...8 {
            let value = "v\(n)"
            if n > 0 { try DB.run(left, "UPDATE t SET x = ?1 WHERE id = 1", [t(value)]) }
            try await eventually("\(value) to reach the right side", timeout: 8, poll: 0.005, detail: {
                "right: \(show(DB.tableIfReadable(right, "t")))\nwhat the ledger believes each store holds:\n"
                    + show(try? DB.rows(ledgerPath(box, "live"), "SELECT store, name, value FROM writes WHERE name = 'x'"))
            }) {
                (try? DB.rows(right, "SELECT x FROM t WHERE id = 1")) == [[t(value)]]
            }
        }
        _ = try await daemon.terminate()
    }

    @Test func sigtermEndsAnIdleDaemonPromptly() async throws {
        let box = try Sandbox()
        let file = try box.write("live.yaml", Self.pipeline)
        let daemon = try Daemon(file, in: box)
        try DB.exec(box.file("left.db"), "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT, y TEXT); INSERT INTO t VALUES (7, 'seven', NULL)")
        try await eventually("row 7 on the right") { DB.tableIfReadable(box.file("right.db"), "t")?.count == 1 }
        // Idle: its sources poll the change log with growing pauses.
        let idleSince = Date()
        try await eventually("the daemon to be idle for a while", timeout: 5) { Date().timeIntervalSince(idleSince) > 1 }
        let signalled = Date()
        let stop = try await daemon.terminate(timeout: 30)
        let seconds = Date().timeIntervalSince(signalled)
        #expect(!stop.signalled && stop.exitCode == 0, "\(stop)")
        // Idle, it ends in a fraction of a second; the bound only has to tell that from a daemon
        // that sleeps out its poll pauses or hangs, on a loaded CI machine, well within a service
        // manager's stop timeout (systemd: 90 s).
        #expect(seconds < 15, "SIGTERM should end an idle daemon promptly, took \(seconds) s")
    }

    /// SIGTERM while a large backlog flows: the batch in flight completes and is checkpointed,
    /// the process exits 0, and a later run finishes the rest without writing anything twice.
    @Test func sigtermMidStreamLosesNothing() async throws {
        let box = try Sandbox()
        let file = try box.write("oneway.yaml", """
            pipeline: drain
            options: { history: true }
            stores:
              src:
                type: sqlite
                path: src.db
                init_sql: "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, label TEXT)"
              dst:
                type: sqlite
                path: dst.db
                init_sql: "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, label TEXT)"
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
        let src = box.file("src.db"), dst = box.file("dst.db")
        let daemon = try Daemon(file, in: box)
        try await eventually("the daemon to be streaming") {
            guard FileManager.default.fileExists(atPath: src) else { return false }
            return (try? DB.tableNames(src).contains("_deltabridge_changes")) ?? false
        }
        let rows = 3000
        try DB.transaction(src) { db in
            let insert = try db.prepare("INSERT INTO items VALUES (?1, 1, ?2)")
            for id in 1...rows { try insert.run([i(Int64(id)), t("item \(id)")]) }
        }
        try DB.exec(src, "UPDATE items SET n = n + 1")
        try await eventually("some rows to arrive") { (try? DB.int(dst, "SELECT count(*) FROM items")) ?? 0 > 0 }
        let stop = try await daemon.terminate(timeout: 15)
        #expect(!stop.signalled && stop.exitCode == 0, "\(stop)")
        let arrived = try DB.int(dst, "SELECT count(*) FROM items WHERE n = 2") ?? 0
        if arrived == Int64(rows) {
            // Not a failure, but the test then did not stop the daemon mid-stream.
            print("note: the daemon had finished the backlog before SIGTERM")
        }
        _ = try await runOnceUntilQuiet(file, "drain", in: box)
        #expect(try DB.table(dst, "items") == DB.table(src, "items"))
        // Each row's n went 1 → 2 once each: two history entries per row, never more.
        let perRow = try DB.rows(ledgerPath(box, "drain"), "SELECT count(*) AS c FROM history WHERE ns = 'items' AND name = 'n' GROUP BY key ORDER BY c DESC LIMIT 1")
        #expect(perRow == [[i(2)]], "a change was recorded twice")
    }
}
