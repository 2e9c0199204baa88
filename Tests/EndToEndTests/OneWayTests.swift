import Foundation
import Testing

/// One-way flows SQLite → SQLite with renames, include and exclude, run with `--once`.
@Suite struct OneWayTests {
    static let pipeline = """
        pipeline: oneway
        stores:
          app:
            type: sqlite
            path: app.db
            init_sql: |
              CREATE TABLE IF NOT EXISTS people(id INTEGER PRIMARY KEY, name TEXT, email TEXT, secret TEXT);
              CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT)
          report:
            type: sqlite
            path: data/report.db
            init_sql: |
              CREATE TABLE IF NOT EXISTS persons(pid INTEGER PRIMARY KEY, full_name TEXT, email TEXT, secret TEXT);
              CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT)
          cache:
            type: sqlite
            path: cache.db
            init_sql: |
              CREATE TABLE IF NOT EXISTS people(id INTEGER PRIMARY KEY, name TEXT, email TEXT, secret TEXT);
              CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT)
        flows:
          - name: out
            from: app
            to: [report, cache]
            collections:
              - namespace: people
                exclude: [secret]
                stores:
                  app:    { table: people, key: id }
                  report: { table: persons, key: pid, rename: { pid: id, full_name: name } }
                  cache:  { table: people, key: id }
              - namespace: notes
                include: [title]
                stores:
                  app:    { table: notes, key: id }
                  report: { table: notes, key: id }
                  cache:  { table: notes, key: id }
        """

    @Test func insertsUpdatesAndDeletesArriveWithRenamesIncludeAndExclude() async throws {
        let box = try Sandbox()
        let file = try box.write("oneway.yaml", Self.pipeline)
        let app = box.file("app.db"), report = box.file("data/report.db"), cache = box.file("cache.db")

        // First run creates the stores (init_sql) and snapshots the empty tables.
        let first = try await runOnce(file, "oneway", in: box)
        #expect(first.writes == 0)

        try DB.exec(app, """
            INSERT INTO people VALUES (1, 'Ada', 'ada@example.org', 'pw-ada'), (2, 'Brian', 'bk@example.org', 'pw-brian'), (3, 'Cleo', NULL, 'pw-cleo');
            INSERT INTO notes VALUES (10, 'shopping', 'milk, eggs'), (11, 'todo', 'write tests');
            """)
        let r1 = try await deltabridge(["run", file, "--once"], in: box)
        #expect(r1.exitCode == 0, "\(r1)")
        #expect(try DB.table(report, "persons") == [
            [i(1), t("Ada"), t("ada@example.org"), null],
            [i(2), t("Brian"), t("bk@example.org"), null],
            [i(3), t("Cleo"), null, null],
        ])
        #expect(try DB.table(cache, "people") == [
            [i(1), t("Ada"), t("ada@example.org"), null],
            [i(2), t("Brian"), t("bk@example.org"), null],
            [i(3), t("Cleo"), null, null],
        ])
        #expect(try DB.table(report, "notes") == [[i(10), t("shopping"), null], [i(11), t("todo"), null]])
        #expect(try DB.table(cache, "notes") == [[i(10), t("shopping"), null], [i(11), t("todo"), null]])

        try DB.exec(app, """
            UPDATE people SET name = 'Ada Lovelace', secret = 'pw2' WHERE id = 1;
            UPDATE people SET email = 'cleo@example.org' WHERE id = 3;
            DELETE FROM people WHERE id = 2;
            UPDATE notes SET title = 'groceries', body = 'milk' WHERE id = 10;
            INSERT INTO people VALUES (4, 'Dan', 'dan@example.org', 'pw-dan');
            """)
        let r2 = try await deltabridge(["run", file, "--once"], in: box)
        #expect(r2.exitCode == 0, "\(r2)")
        let expectedPeople: [Row] = [
            [i(1), t("Ada Lovelace"), t("ada@example.org"), null],
            [i(3), t("Cleo"), t("cleo@example.org"), null],
            [i(4), t("Dan"), t("dan@example.org"), null],
        ]
        #expect(try DB.table(report, "persons") == expectedPeople)
        #expect(try DB.table(cache, "people") == expectedPeople)
        #expect(try DB.table(report, "notes") == [[i(10), t("groceries"), null], [i(11), t("todo"), null]])

        // A change of excluded attributes only is no change at all.
        try DB.exec(app, "UPDATE people SET secret = 'pw3' WHERE id = 1; UPDATE notes SET body = 'bread' WHERE id = 11")
        let r3 = try await runOnce(file, "oneway", in: box)
        #expect(r3.deltas == 0 && r3.writes == 0, "\(r3)")
        #expect(try DB.table(report, "persons") == expectedPeople)

        // Nothing excluded ever reached a target, in any column.
        #expect(try DB.rows(report, "SELECT count(*) FROM persons WHERE secret IS NOT NULL") == [[i(0)]])
        #expect(try DB.rows(cache, "SELECT count(*) FROM people WHERE secret IS NOT NULL") == [[i(0)]])
        #expect(try DB.rows(cache, "SELECT count(*) FROM notes WHERE body IS NOT NULL") == [[i(0)]])

        // A one-way target keeps no change log of its own.
        #expect(try !DB.tableNames(report).contains("_deltabridge_changes"))
    }

    /// A target table with a NOT NULL column (no default) must still take an update of another
    /// column of an existing row. (SQLite checks NOT NULL on the INSERT of an
    /// `INSERT … ON CONFLICT DO UPDATE` before it finds the conflict.)
    @Test func updateOfOneColumnArrivesInATableWithNotNullColumns() async throws {
        let box = try Sandbox()
        let schema = "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, label TEXT NOT NULL, note TEXT)"
        let file = try box.write("notnull.yaml", """
            pipeline: notnull
            stores:
              src: { type: sqlite, path: src.db, init_sql: "\(schema)" }
              dst: { type: sqlite, path: dst.db, init_sql: "\(schema)" }
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
        _ = try await runOnce(file, "notnull", in: box)
        try DB.exec(box.file("src.db"), "INSERT INTO items VALUES (1, 1, 'one', NULL), (2, 2, 'two', NULL)")
        _ = try await runOnce(file, "notnull", in: box)
        try DB.exec(box.file("src.db"), "UPDATE items SET note = 'noted' WHERE id = 1; UPDATE items SET n = 20 WHERE id = 2")
        let r = try await runOnce(file, "notnull", in: box)
        #expect(r.deadLetters == 0, "\(r)")
        #expect(try DB.table(box.file("dst.db"), "items") == [[i(1), i(1), t("one"), t("noted")], [i(2), i(20), t("two"), null]])
    }

    @Test func onceWithNothingToDoWritesNothing() async throws {
        let box = try Sandbox()
        let file = try box.write("oneway.yaml", Self.pipeline)
        try DB.exec(box.file("app.db"), """
            CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, email TEXT, secret TEXT);
            CREATE TABLE notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT);
            INSERT INTO people VALUES (1, 'Ada', NULL, 's');
            """)
        let first = try await runOnce(file, "oneway", in: box)
        #expect(first.writes == 2, "one row to each of two targets: \(first)")
        let second = try await runOnce(file, "oneway", in: box)
        #expect(second == OnceSummary(), "\(second)")
    }
}
