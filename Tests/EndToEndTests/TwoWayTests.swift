import Foundation
import Testing

/// Two-way flows between two SQLite files, driven by `--once` runs with the daemon stopped, so the
/// order of the writes on each side is known (DESIGN §2 rules 1, 2, 3, 6, 7).
@Suite struct TwoWayTests {
    static let schema = "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT, y TEXT, z TEXT, ts INTEGER)"

    /// A two-way pipeline `both` between `left.db` and `right.db`; `time` names a time column.
    static func pipeline(time: String? = nil) -> String {
        let timePart = time.map { ", time: \($0)" } ?? ""
        return """
            pipeline: both
            stores:
              left:
                type: sqlite
                path: left.db
                init_sql: "\(schema)"
              right:
                type: sqlite
                path: right.db
                init_sql: "\(schema)"
            flows:
              - name: t
                two_way: [left, right]
                collections:
                  - namespace: t
                    stores:
                      left:  { table: t, key: id\(timePart) }
                      right: { table: t, key: id\(timePart) }
            """
    }

    struct Setup {
        let box: Sandbox
        let file: String
        var left: String { box.file("left.db") }
        var right: String { box.file("right.db") }

        init(time: String? = nil, function: String = #function) async throws {
            box = try Sandbox(function)
            file = try box.write("both.yaml", TwoWayTests.pipeline(time: time))
            _ = try await runOnce(file, "both", in: box)  // creates both files and installs the change logs
        }

        func once() async throws -> OnceSummary { try await runOnce(file, "both", in: box) }
        func leftRows() throws -> [Row] { try DB.table(left, "t") }
        func rightRows() throws -> [Row] { try DB.table(right, "t") }
    }

    @Test func rowsCreatedOnEitherSideArriveOnTheOther() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t(id, x) VALUES (1, 'from left')")
        try DB.exec(s.right, "INSERT INTO t(id, y) VALUES (2, 'from right')")
        _ = try await s.once()
        let expected: [Row] = [[i(1), t("from left"), null, null, null], [i(2), null, t("from right"), null, null]]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
    }

    /// Rule 1: edits of different columns of one row both survive.
    @Test func editsOfDifferentColumnsOfOneRowBothSurvive() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t VALUES (1, 'x0', 'y0', 'z0', NULL)")
        _ = try await s.once()
        try DB.exec(s.left, "UPDATE t SET x = 'x-left' WHERE id = 1")
        try await advanceClock()
        try DB.exec(s.right, "UPDATE t SET y = 'y-right' WHERE id = 1")
        try await advanceClock()
        try DB.exec(s.left, "UPDATE t SET z = 'z-left' WHERE id = 1")
        _ = try await s.once()
        let expected: [Row] = [[i(1), t("x-left"), t("y-right"), t("z-left"), null]]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
    }

    /// Rules 2 and 3: the same column edited on both sides resolves to the later write, where
    /// "later" is the application's `time:` column — not the order the stores were written in.
    @Test func sameColumnResolvesToTheLaterTimeColumnValue() async throws {
        let s = try await Setup(time: "ts")
        let base = nowMicros() - 120_000_000  // two minutes ago: well inside the clock-skew limit
        try DB.run(s.left, "INSERT INTO t VALUES (1, 'x0', 'y0', NULL, ?1), (2, 'x0', 'y0', NULL, ?1)", [i(base)])
        _ = try await s.once()
        // Row 1: left's edit is stamped later, though right is written after it.
        try DB.run(s.left, "UPDATE t SET x = 'left wins', ts = ?1 WHERE id = 1", [i(base + 20_000_000)])
        try DB.run(s.right, "UPDATE t SET x = 'right loses', ts = ?1 WHERE id = 1", [i(base + 10_000_000)])
        // Row 2: the other way round.
        try DB.run(s.right, "UPDATE t SET x = 'right wins', ts = ?1 WHERE id = 2", [i(base + 30_000_000)])
        try DB.run(s.left, "UPDATE t SET x = 'left loses', ts = ?1 WHERE id = 2", [i(base + 25_000_000)])
        _ = try await s.once()
        let expected: [Row] = [
            [i(1), t("left wins"), t("y0"), null, i(base + 20_000_000)],
            [i(2), t("right wins"), t("y0"), null, i(base + 30_000_000)],
        ]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
        let quiet = try await s.once()
        #expect(quiet.deltas == 0 && quiet.writes == 0, "\(quiet)")
    }

    /// Rule 2 with commit times: written in a known order with the bridge stopped, the later
    /// write of one column wins on both sides, whichever side it was made on.
    @Test func sameColumnResolvesToTheLaterCommit() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t(id, x) VALUES (1, 'x0'), (2, 'x0')")
        _ = try await s.once()
        try DB.exec(s.left, "UPDATE t SET x = 'left first' WHERE id = 1")
        try DB.exec(s.right, "UPDATE t SET x = 'right first' WHERE id = 2")
        try await advanceClock()
        try DB.exec(s.right, "UPDATE t SET x = 'right later' WHERE id = 1")
        try DB.exec(s.left, "UPDATE t SET x = 'left later' WHERE id = 2")
        _ = try await s.once()
        let expected: [Row] = [[i(1), t("right later"), null, null, null], [i(2), t("left later"), null, null, null]]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
    }

    /// Rule 6: a delete on one side, then a later update on the other → the row is restored
    /// everywhere, with all its latest attributes (also those the update did not touch).
    @Test func laterUpdateRestoresADeletedRowWithAllLatestAttributes() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t VALUES (1, 'x0', 'y0', 'z0', NULL), (2, 'x0', 'y0', 'z0', NULL)")
        _ = try await s.once()
        // Row 1: plain delete, then a later update of another column on the other side.
        try DB.exec(s.left, "DELETE FROM t WHERE id = 1")
        // Row 2: left edits x, then deletes; right edits y after that.
        try DB.exec(s.left, "UPDATE t SET x = 'x-left' WHERE id = 2")
        try await advanceClock()
        try DB.exec(s.left, "DELETE FROM t WHERE id = 2")
        try await advanceClock()
        try DB.exec(s.right, "UPDATE t SET y = 'y-right' WHERE id = 1")
        try DB.exec(s.right, "UPDATE t SET y = 'y-right' WHERE id = 2")
        _ = try await s.once()
        let expected: [Row] = [
            [i(1), t("x0"), t("y-right"), t("z0"), null],
            [i(2), t("x-left"), t("y-right"), t("z0"), null],
        ]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
    }

    /// Rule 6: an update followed by a later delete on the other side → deleted everywhere.
    @Test func laterDeleteWinsOverAnEarlierUpdate() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t VALUES (1, 'x0', 'y0', 'z0', NULL), (2, 'keep', NULL, NULL, NULL)")
        _ = try await s.once()
        try DB.exec(s.right, "UPDATE t SET y = 'y-right' WHERE id = 1")
        try await advanceClock()
        try DB.exec(s.left, "DELETE FROM t WHERE id = 1")
        _ = try await s.once()
        let expected: [Row] = [[i(2), t("keep"), null, null, null]]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
    }

    /// The same as above with the sides swapped: the update is on the side whose changes are
    /// read first, the later delete on the other; the updated column was NULL before. The update's
    /// patch to the side that deleted the row must not re-create it (its guard expects NULL, and a
    /// missing row "counts as all NULL").
    @Test func laterDeleteWinsOverAnEarlierUpdateOfANullColumn() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t VALUES (1, 'x0', NULL, NULL, NULL), (2, 'keep', NULL, NULL, NULL)")
        _ = try await s.once()
        try DB.exec(s.left, "UPDATE t SET y = 'y-left' WHERE id = 1")
        try await advanceClock()
        try DB.exec(s.right, "DELETE FROM t WHERE id = 1")
        _ = try await s.once()
        let expected: [Row] = [[i(2), t("keep"), null, null, null]]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected, "the deleted row came back on the side that deleted it")
    }

    /// Found by the randomized test (seed 101): the right side creates and later deletes a row;
    /// in between, the left side created the same key. The left's (older) create reaches the
    /// right after the right deleted the row; the right's later delete wins — so the row must be
    /// gone on both sides, not re-created on the right.
    @Test func laterDeleteWinsOverAnOlderCreateFromTheOtherSide() async throws {
        let s = try await Setup()
        try DB.exec(s.right, "INSERT INTO t(id, x) VALUES (5, 'right')")
        try await advanceClock()
        try DB.exec(s.left, "INSERT INTO t(id, y) VALUES (5, 'left')")
        try await advanceClock()
        try DB.exec(s.right, "DELETE FROM t WHERE id = 5")
        _ = try await runOnceUntilQuiet(s.file, "both", in: s.box)
        #expect(try s.leftRows() == [])
        #expect(try s.rightRows() == [], "the row came back on the side that deleted it last")
    }

    /// A delete on both sides, and a re-insert after a delete.
    @Test func deletesOnBothSidesAndReinsert() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t(id, x) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        _ = try await s.once()
        try DB.exec(s.left, "DELETE FROM t WHERE id IN (1, 2)")
        try DB.exec(s.right, "DELETE FROM t WHERE id = 2")
        _ = try await s.once()
        #expect(try s.leftRows() == [[i(3), t("c"), null, null, null]])
        #expect(try s.rightRows() == [[i(3), t("c"), null, null, null]])
        try await advanceClock()
        try DB.exec(s.right, "INSERT INTO t(id, z) VALUES (2, 'again')")
        _ = try await s.once()
        let expected: [Row] = [[i(2), null, null, t("again"), null], [i(3), t("c"), null, null, null]]
        #expect(try s.leftRows() == expected)
        #expect(try s.rightRows() == expected)
    }

    /// One side receives two writes of the same row before its own change log is read, and its
    /// two echoes then come back in one batch. Here the row changes twice on the left with 1000
    /// change-log rows of another table (synced by a second flow) in between, so the left is read
    /// in two batches. What the ledger records as "the right side holds" must be the last write,
    /// or the next guarded write to the right side fails forever (no local edit is in flight
    /// there to reconcile it).
    @Test func twoWritesOfOneRowBeforeTheirEchoesAreReadThenAnotherEdit() async throws {
        let box = try Sandbox()
        let schema = "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT); CREATE TABLE IF NOT EXISTS filler(id INTEGER PRIMARY KEY)"
        let file = try box.write("echo.yaml", """
            pipeline: echo
            stores:
              left:  { type: sqlite, path: left.db, init_sql: "\(schema)" }
              right: { type: sqlite, path: right.db, init_sql: "\(schema)" }
              extra: { type: sqlite, path: extra.db, init_sql: "\(schema)" }
            flows:
              - name: t
                two_way: [left, right]
                collections:
                  - namespace: t
                    stores: { left: { table: t, key: id }, right: { table: t, key: id } }
              - name: filler
                from: left
                to: extra
                collections:
                  - namespace: filler
                    stores: { left: { table: filler, key: id }, extra: { table: filler, key: id } }
            """)
        let left = box.file("left.db"), right = box.file("right.db")
        _ = try await runOnce(file, "echo", in: box)
        try DB.exec(left, "INSERT INTO t(id, x) VALUES (1, 'v0')")
        _ = try await runOnce(file, "echo", in: box)
        try DB.transaction(left) { db in
            try db.execute("UPDATE t SET x = 'v1' WHERE id = 1")
            let filler = try db.prepare("INSERT INTO filler(id) VALUES (?1)")
            for id in 1...1000 { try filler.run([i(Int64(id))]) }
            try db.execute("UPDATE t SET x = 'v2' WHERE id = 1")
        }
        _ = try await runOnce(file, "echo", in: box)
        #expect(try DB.rows(right, "SELECT x FROM t") == [[t("v2")]])
        try DB.exec(left, "UPDATE t SET x = 'v3' WHERE id = 1")
        let third = try await runOnce(file, "echo", in: box)
        #expect(third.guarded == 0, "nothing edits the right side, so no guard may fail: \(third)")
        #expect(try DB.rows(right, "SELECT x FROM t") == [[t("v3")]], "what the ledger believes the right side holds: \(show(try? DB.rows(ledgerPath(box, "echo"), "SELECT store, name, value FROM writes WHERE name = 'x'")))")
    }

    /// Rule 7: the bridge's own writes come back as echoes and produce no deltas, so a second
    /// run without user changes reports 0 deltas and 0 writes.
    @Test func echoesProduceNoDeltas() async throws {
        let s = try await Setup()
        try DB.exec(s.left, "INSERT INTO t(id, x, y) VALUES (1, 'a', 'b'), (2, 'c', 'd')")
        try DB.exec(s.right, "INSERT INTO t(id, x, y) VALUES (3, 'e', 'f')")
        let first = try await s.once()
        #expect(first.writes > 0)
        try DB.exec(s.left, "UPDATE t SET x = 'a2' WHERE id = 1; DELETE FROM t WHERE id = 2")
        try DB.exec(s.right, "UPDATE t SET y = 'f2' WHERE id = 3")
        let second = try await s.once()
        #expect(second.writes > 0)
        let quiet = try await s.once()
        #expect(quiet.deltas == 0, "echoes must not become deltas: \(quiet)")
        #expect(quiet.writes == 0, "\(quiet)")
        let again = try await s.once()
        #expect(again.events == 0 && again.deltas == 0 && again.writes == 0, "\(again)")
        #expect(try s.leftRows() == s.rightRows())
    }
}
