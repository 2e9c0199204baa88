import DeltaConnector
import DeltaCore
import DeltaLedger
import DeltaPipeline
import Foundation
import SQLiteSupport
import Testing
@testable import PostgresConnector

/// The PostgreSQL connector driven by the engine (PipelineEngine.runOnce) with SQLite on the
/// other side, against a real PostgreSQL (DELTABRIDGE_PG_URL).
@Suite struct PostgresPipelineTests {
    static let allTypesDDL = """
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
        CREATE TABLE all_types (
            id int4 PRIMARY KEY, c_int2 int2, c_int8 int8, c_numeric numeric, c_numeric_scaled numeric(12,3),
            c_float4 float4, c_float8 float8, c_bool bool, c_text text, c_varchar varchar(20), c_bpchar char(5),
            c_name name, c_char "char", c_bytea bytea, c_uuid uuid, c_date date, c_time time, c_timetz timetz,
            c_timestamp timestamp(3), c_timestamptz timestamptz, c_interval interval, c_json json, c_jsonb jsonb,
            c_int4_arr int4[], c_int4_arr2 int4[][], c_text_arr text[], c_numeric_arr numeric[], c_float8_arr float8[],
            c_bool_arr bool[], c_uuid_arr uuid[], c_tstz_arr timestamptz[], c_jsonb_arr jsonb[],
            c_mood mood, c_mood_arr mood[], c_posint posint, c_inet inet, c_big text);
        ALTER TABLE all_types ALTER COLUMN c_big SET STORAGE EXTERNAL;
        """

    static let typicalRow = """
        INSERT INTO all_types VALUES (%ID%, 12, 1234567890123, 3.14159, 1234.5, 1.5, 2.718281828459045, true,
            'héllo wörld ✓ 😀', 'varchar val', 'ab', 'a_name', 'x', '\\xdeadbeef', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
            '2024-02-29', '13:45:56.123456', '13:45:56.5+05:30', '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.123456+00',
            '1 year 2 mons 3 days 04:05:06.789', '{"b": [1, 2.5, "x"], "a": {"nested": true, "n": null}}',
            '{"z": 1, "a": [1, {"deep": [true, false, null]}], "pi": 3.14, "s": "quote\\" é"}',
            '{1,2,NULL}', '{{1,2},{3,4}}', ARRAY['a b', 'c"d', 'e\\f', NULL, 'NULL', '', '{x}', 'ü'],
            '{1.5,-2}', '{1.5,-0.25}', '{t,f,NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
            '{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.5+00"}', ARRAY['{"k": [1]}'::jsonb, '"str"'::jsonb],
            'happy', '{sad,ok}', 42, '192.168.0.1/24', repeat('toast-', 600))
        """

    static let edgeRow = """
        INSERT INTO all_types (id, c_int2, c_int8, c_numeric, c_numeric_scaled, c_float4, c_float8, c_bool, c_text, c_varchar,
            c_bpchar, c_bytea, c_date, c_timestamp, c_timestamptz, c_interval, c_json, c_jsonb, c_int4_arr, c_text_arr, c_float8_arr)
        VALUES (%ID%, -32768, -9223372036854775808, '-123456789012345678901234567890.123456', -999999999.999, 3.4e38, '-Infinity', false,
            E'tab\\there\\nnewline "quoted" back\\\\slash', '', 'abcde', '\\x00', '0044-03-15 BC', '1970-01-01 00:00:00',
            '1969-12-31 23:59:59.999999+00', '-1 days -00:00:01', '[]', '"just a string"', '{}', '{}', '{-1.5,1e-300,1.7976931348623157e308}')
        """

    static var sqliteDDL: String {
        let columns = ["c_int2", "c_int8", "c_numeric", "c_numeric_scaled", "c_float4", "c_float8", "c_bool", "c_text", "c_varchar", "c_bpchar",
                       "c_name", "c_char", "c_bytea", "c_uuid", "c_date", "c_time", "c_timetz", "c_timestamp", "c_timestamptz", "c_interval",
                       "c_json", "c_jsonb", "c_int4_arr", "c_int4_arr2", "c_text_arr", "c_numeric_arr", "c_float8_arr", "c_bool_arr",
                       "c_uuid_arr", "c_tstz_arr", "c_jsonb_arr", "c_mood", "c_mood_arr", "c_posint", "c_inet", "c_big"]
        return "CREATE TABLE IF NOT EXISTS all_types (id INTEGER PRIMARY KEY, " + columns.joined(separator: ", ") + ")"
    }

    static let sqliteJSON = "[c_json, c_jsonb, c_int4_arr, c_int4_arr2, c_text_arr, c_numeric_arr, c_float8_arr, c_bool_arr, c_uuid_arr, c_tstz_arr, c_jsonb_arr, c_mood_arr]"

    @Test func everyTypeRoundTripsPostgresToSQLiteToPostgresUnchanged() async throws {
        let src = try PGTestDatabase()
        defer { src.drop() }
        let dst = try PGTestDatabase()
        defer { dst.drop() }
        try src.exec(Self.allTypesDDL)
        try dst.exec(Self.allTypesDDL)
        try src.exec(Self.typicalRow.replacingOccurrences(of: "%ID%", with: "1"))
        try src.exec(Self.edgeRow.replacingOccurrences(of: "%ID%", with: "2"))
        let dir = try PGTemporaryDirectory()
        let warnings = WarningLog()
        let pg = src.store()
        let down = try PGPipeline.load("""
            pipeline: down
            state_dir: \(dir.file("state-down"))
            stores:
              \(pg):
                type: postgres
                url: "\(src.url)"
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
                init_sql: "\(Self.sqliteDDL)"
            flows:
              - name: down
                from: \(pg)
                to: lite
                collections:
                  - namespace: all_types
                    stores:
                      \(pg): { table: all_types, key: id }
                      lite: { table: all_types, key: id, json: \(Self.sqliteJSON) }
            """, in: dir, warn: warnings.handler)
        // Rows 1 and 2 through the snapshot, 3 and 4 through the stream.
        let first = try await withPGTimeout { try await PGPipeline.engine(down, warn: warnings.handler).runOnce() }
        #expect(first.stoppedFlows.isEmpty)
        #expect(first.deadLetters == 0)
        try src.exec("INSERT INTO all_types (id) VALUES (3)")
        try src.exec(Self.typicalRow.replacingOccurrences(of: "%ID%", with: "4"))
        try src.exec(Self.edgeRow.replacingOccurrences(of: "%ID%", with: "5"))
        let second = try await withPGTimeout { try await PGPipeline.engine(down, warn: warnings.handler).runOnce() }
        #expect(second.stoppedFlows.isEmpty)
        #expect(second.deadLetters == 0)
        #expect(second.events >= 3)

        let pg2 = dst.store("pg2")
        let up = try PGPipeline.load("""
            pipeline: up
            state_dir: \(dir.file("state-up"))
            stores:
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
              \(pg2):
                type: postgres
                url: "\(dst.url)"
            flows:
              - name: up
                from: lite
                to: \(pg2)
                collections:
                  - namespace: all_types
                    stores:
                      lite: { table: all_types, key: id, json: \(Self.sqliteJSON) }
                      \(pg2): { table: all_types, key: id }
            """, in: dir)
        let third = try await withPGTimeout { try await PGPipeline.engine(up).runOnce() }
        #expect(third.stoppedFlows.isEmpty)
        #expect(third.deadLetters == 0)

        let query = "SELECT id::text, to_jsonb(t)::text FROM all_types t ORDER BY id"
        let before = try src.rows(query)
        let after = try dst.rows(query)
        #expect(before.count == 5)
        #expect(after.count == before.count)
        for (a, b) in zip(before, after) {
            #expect(a == b, "row \(a[0] ?? "?") changed on the way PostgreSQL → SQLite → PostgreSQL")
        }
        #expect(warnings.all.filter { $0.contains("c_inet") }.count >= 1)
    }

    @Test func createTrueMakesMissingTargetTablesFromTheSourceColumns() async throws {
        let src = try PGTestDatabase()
        defer { src.drop() }
        let dst = try PGTestDatabase()
        defer { dst.drop() }
        try src.exec(Self.allTypesDDL)
        try src.exec(Self.typicalRow.replacingOccurrences(of: "%ID%", with: "1"))
        try src.exec(Self.edgeRow.replacingOccurrences(of: "%ID%", with: "2"))
        let dir = try PGTemporaryDirectory()
        let (pg, pg2) = (src.store(), dst.store("pg2"))
        let yaml = """
            pipeline: create
            state_dir: \(dir.file("state"))
            stores:
              \(pg): { type: postgres, url: "\(src.url)" }
              \(pg2): { type: postgres, url: "\(dst.url)" }
              lite: { type: sqlite, path: \(dir.file("lite.db")), init_sql: "SELECT 1" }
            flows:
              - name: out
                from: \(pg)
                to: [\(pg2), lite]
                collections:
                  - namespace: all_types
                    exclude: [c_inet]
                    stores:
                      \(pg): { table: all_types, key: id }
                      \(pg2): { table: copy_of_all_types, key: id, create: true, rename: { text_renamed: c_text } }
                      lite: { table: all_types, key: id, json: \(Self.sqliteJSON), create: true }
            """
        let config = try PGPipeline.load(yaml, in: dir)

        // Validation accepts the missing tables: they are created before the flow starts.
        let sink = PostgresSink(config: PostgresStoreConfig(store: StoreID(pg2), url: dst.url))
        let problems = try await sink.validate(collections: [CollectionSpec(name: "copy_of_all_types", keyAttributes: ["id"], createIfMissing: true)],
                                               asSource: false, asSink: true)
        #expect(!problems.map(\.description).joined().contains("does not exist"))

        let run = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(run.stoppedFlows.isEmpty)
        let refused = try SQLiteLedger(path: config.ledgerPath).deadLetters(pipeline: nil, limit: 5).map(\.reason)
        #expect(run.deadLetters == 0, "\(refused)")

        // PostgreSQL → PostgreSQL: built-in types exactly; an enum or a domain, which exist only
        // in the source database, as their values' kind (a domain as its base type); the renamed column under its new name;
        // the excluded one left out; the primary key on the key.
        let types = "SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        let sourceTypes = try src.rows(types, ["all_types"]).map { $0[0]! }
        let targetTypes = try dst.rows(types, ["copy_of_all_types"]).map { $0[0]! }
        var expected = sourceTypes.filter { !$0.hasPrefix("c_inet ") }.map { $0 == "c_text text" ? "text_renamed text" : $0 }
        expected = expected.map { t in
            switch t {
            case "c_mood mood": return "c_mood text"
            case "c_mood_arr mood[]": return "c_mood_arr jsonb"
            case "c_posint posint": return "c_posint integer"
            default: return t
            }
        }
        #expect(targetTypes == expected)
        #expect(try dst.scalar("SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'copy_of_all_types'::regclass AND i.indisprimary") == "id")
        let same = "SELECT id, c_int8, c_numeric, c_numeric_scaled::text, c_float8, c_bytea, c_uuid, c_timestamptz, c_interval, c_jsonb::text, c_text_arr::text, c_big"
        #expect(try dst.rows(same + " FROM copy_of_all_types ORDER BY id") == src.rows(same + " FROM all_types ORDER BY id"))
        #expect(try dst.rows("SELECT text_renamed, c_mood FROM copy_of_all_types ORDER BY id") == src.rows("SELECT c_text, c_mood::text FROM all_types ORDER BY id"))

        // PostgreSQL → SQLite: storage classes that keep every value exact.
        let lite = try SQLiteDatabase(path: dir.file("lite.db"))
        let info = try lite.prepare("SELECT name || ' ' || type FROM pragma_table_info('all_types') ORDER BY cid")
        var liteTypes = [String]()
        while try info.step() { liteTypes.append(info.text(0)) }
        #expect(liteTypes.contains("id INTEGER"))
        #expect(liteTypes.contains("c_numeric_scaled TEXT"))
        #expect(liteTypes.contains("c_float8 REAL"))
        #expect(liteTypes.contains("c_bytea BLOB"))
        #expect(liteTypes.contains("c_jsonb TEXT"))
        #expect(!liteTypes.contains { $0.hasPrefix("c_inet") })
        let count = try lite.prepare("SELECT count(*), max(c_numeric_scaled) FROM all_types WHERE c_numeric_scaled IS NOT NULL")
        _ = try count.step()
        #expect(count.int64(0) == 2)

        // A second run finds the tables and creates nothing.
        let again = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(again.stoppedFlows.isEmpty)
    }

    @Test func createTrueMakesAPostgresTableFromSQLiteDeclaredTypes() async throws {
        let dst = try PGTestDatabase()
        defer { dst.drop() }
        let dir = try PGTemporaryDirectory()
        let pg = dst.store()
        let ddl = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, score REAL, raw BLOB, amount NUMERIC, done BOOLEAN, meta TEXT)"
        let config = try PGPipeline.load("""
            pipeline: lite2pg
            state_dir: \(dir.file("state"))
            stores:
              lite: { type: sqlite, path: \(dir.file("notes.db")), init_sql: "\(ddl); INSERT OR IGNORE INTO notes VALUES (1, 'a', 1.5, x'00ff', '12.50', 1, '{\\"k\\": [1]}')" }
              \(pg): { type: postgres, url: "\(dst.url)" }
            flows:
              - name: up
                from: lite
                to: \(pg)
                collections:
                  - namespace: notes
                    stores:
                      lite: { table: notes, key: id, json: [meta] }
                      \(pg): { table: notes, key: id, create: true }
            """, in: dir)
        let run = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(run.stoppedFlows.isEmpty)
        #expect(run.deadLetters == 0)
        let types = try dst.rows("SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attnum > 0 ORDER BY attnum").map { $0[0]! }
        #expect(types == ["id bigint not null", "title text not null", "score double precision", "raw bytea", "amount numeric", "done boolean", "meta jsonb"])
        let row = try dst.rows("SELECT id, title, score, raw, amount, meta::text FROM notes")
        // SQLite's NUMERIC affinity stored '12.50' as the REAL 12.5.
        #expect(row == [["1", "a", "1.5", "\\x00ff", "12.5", "{\"k\": [1]}"]], "\(row)")
    }

    @Test func unchangedToastValuesStay() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE docs (id int PRIMARY KEY, title text, body text); ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL")
        let dir = try PGTemporaryDirectory()
        let pg = db.store()
        let config = try PGPipeline.load("""
            pipeline: toast
            state_dir: \(dir.file("state"))
            stores:
              \(pg): { type: postgres, url: "\(db.url)" }
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
                init_sql: "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT)"
            flows:
              - name: docs
                two_way: [\(pg), lite]
                collections:
                  - namespace: docs
                    stores:
                      \(pg): { table: docs, key: id }
                      lite: { table: docs, key: id }
            """, in: dir)
        _ = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        let big = String(repeating: "0123456789", count: 1000)
        try db.exec("INSERT INTO docs VALUES (1, 'first', $1)", [big])
        _ = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        try db.exec("UPDATE docs SET title = 'second' WHERE id = 1")
        let run = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(run.deadLetters == 0)
        let lite = try SQLiteDatabase(path: dir.file("lite.db"))
        let s = try lite.prepare("SELECT title, body FROM docs WHERE id = 1")
        #expect(try s.step())
        #expect(s.text(0) == "second")
        #expect(s.text(1) == big)
        s.reset()
        #expect(try db.scalar("SELECT body = $1 FROM docs WHERE id = 1", [big]) == "t")
    }

    @Test func twoWayConflictingEditsConverge() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE people (id int PRIMARY KEY, name text, email text, age int)")
        try db.exec("INSERT INTO people VALUES (1, 'ada', 'ada@x', 36), (2, 'bob', 'bob@x', 40)")
        let dir = try PGTemporaryDirectory()
        let pg = db.store()
        let config = try PGPipeline.load("""
            pipeline: twoway
            state_dir: \(dir.file("state"))
            stores:
              \(pg): { type: postgres, url: "\(db.url)" }
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
                init_sql: "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER)"
            flows:
              - name: people
                two_way: [\(pg), lite]
                collections:
                  - namespace: people
                    stores:
                      \(pg): { table: people, key: id }
                      lite: { table: people, key: id }
            """, in: dir)
        let first = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(first.stoppedFlows.isEmpty)
        let lite = try SQLiteDatabase(path: dir.file("lite.db"))
        func liteRows() throws -> [[String?]] {
            let s = try lite.prepare("SELECT id, name, email, age FROM people ORDER BY id")
            var out: [[String?]] = []
            while try s.step() {
                out.append((0..<4).map { i -> String? in
                    switch s.value(Int32(i)) {
                    case .null: return nil
                    case let .int(v): return String(v)
                    case let .text(t): return t
                    default: return "?"
                    }
                })
            }
            return out
        }
        #expect(try liteRows() == [["1", "ada", "ada@x", "36"], ["2", "bob", "bob@x", "40"]])

        // Conflicting edits on both sides: different attributes of row 1, the same attribute of
        // row 1 (name, later in SQLite), a delete against an update of row 2, a new row 3 on both.
        try db.exec("UPDATE people SET name = 'ada-pg', age = 37 WHERE id = 1")
        try db.exec("UPDATE people SET email = 'bob@pg' WHERE id = 2")
        try db.exec("INSERT INTO people VALUES (3, 'pg3', NULL, 3)")
        try await Task.sleep(for: .milliseconds(20))
        try lite.execute("UPDATE people SET name = 'ada-lite', email = 'ada@lite' WHERE id = 1")
        try lite.execute("DELETE FROM people WHERE id = 2")
        try lite.execute("INSERT INTO people VALUES (3, 'lite3', 'l3@x', NULL)")
        for _ in 0..<3 {
            let r = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
            #expect(r.stoppedFlows.isEmpty)
            #expect(r.deadLetters == 0)
        }
        let pgRows = try db.rows("SELECT id::text, name, email, age::text FROM people ORDER BY id")
        let liteNow = try liteRows()
        #expect(pgRows == liteNow)
        let row1 = try #require(pgRows.first { $0[0] == "1" })
        #expect(row1 == ["1", "ada-lite", "ada@lite", "37"])
    }

    @Test func bridgeWritesDoNotComeBackAsChanges() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        let dir = try PGTemporaryDirectory()
        let pg = db.store()
        let config = try PGPipeline.load("""
            pipeline: echo
            state_dir: \(dir.file("state"))
            stores:
              \(pg): { type: postgres, url: "\(db.url)" }
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
                init_sql: "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)"
            flows:
              - name: notes
                two_way: [lite, \(pg)]
                collections:
                  - namespace: notes
                    stores:
                      lite: { table: notes, key: id }
                      \(pg): { table: notes, key: id }
            """, in: dir)
        _ = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        let lite = try SQLiteDatabase(path: dir.file("lite.db"))
        try lite.execute("INSERT INTO notes VALUES (1, 'from sqlite')")
        let write = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(write.deltas > 0)
        #expect(write.patchesApplied >= 1)
        #expect(try db.scalar("SELECT body FROM notes WHERE id = 1") == "from sqlite")
        let again = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(again.deltas == 0)
        #expect(again.patchesApplied == 0)
        #expect(again.stoppedFlows.isEmpty)
    }

    @Test func daemonModeStreamsUntilCancelledAndConfirmsOnlyWhatWasApplied() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
        let dir = try PGTemporaryDirectory()
        let pg = db.store()
        let config = try PGPipeline.load("""
            pipeline: daemon
            state_dir: \(dir.file("state"))
            stores:
              \(pg): { type: postgres, url: "\(db.url)" }
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
                init_sql: "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"
            flows:
              - name: f
                from: \(pg)
                to: lite
                collections:
                  - namespace: t
                    stores:
                      \(pg): { table: t, key: id }
                      lite: { table: t, key: id }
            """, in: dir)
        _ = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        let lite = try SQLiteDatabase(path: dir.file("lite.db"))
        try lite.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
        let engine = try PGPipeline.engine(config)
        let task = Task { try await engine.run() }
        let before = try #require(try db.scalar("SELECT pg_current_wal_lsn()").flatMap { LSN($0) })
        for i in 1...2 { try db.exec("INSERT INTO t VALUES ($1, 'v')", ["\(i)"]) }
        // A WAL position inside the last insert's transaction: a slot confirmed at or past it has
        // confirmed that transaction's commit (other databases' WAL may follow it).
        let afterInserts = try #require(try db.scalar("WITH i AS (INSERT INTO t VALUES (3, 'v') RETURNING 1) SELECT pg_current_wal_insert_lsn() FROM i").flatMap { LSN($0) })
        func count() throws -> Int64 {
            let s = try lite.prepare("SELECT count(*) FROM t")
            defer { s.reset() }
            _ = try s.step()
            return s.int64(0)
        }
        var waited = 0
        while try count() < 3 && waited < 600 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        #expect(try count() == 3)
        // The slot is told a position only after the engine checkpointed it (the stream's next
        // pull); wait until it has confirmed the last insert's commit while the daemon runs.
        let slot = PostgresStoreConfig(store: StoreID(pg), url: db.url).slot
        var confirmed = LSN.invalid
        for _ in 0..<1500 {
            confirmed = try db.scalar("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", [slot]).flatMap { LSN($0) } ?? .invalid
            if confirmed >= afterInserts { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(confirmed >= afterInserts && confirmed > before)
        let ledger = try SQLiteLedger(path: config.ledgerPath)
        #expect(try ledger.checkpoints(pipeline: "daemon").map(\.appliedEvents).reduce(0, +) >= 3, "confirmed before the ledger checkpoint")
        task.cancel()
        _ = await task.result
        try await waitUntilSlotIsFree(db, slot)

        try db.exec("INSERT INTO t VALUES (4, 'v')")
        let after = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(after.events == 1)
        #expect(try count() == 4)
    }

    @Test func droppedSlotStopsTheFlowWithResyncAdvice() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
        let dir = try PGTemporaryDirectory()
        let pg = db.store()
        let config = try PGPipeline.load("""
            pipeline: lost
            state_dir: \(dir.file("state"))
            stores:
              \(pg): { type: postgres, url: "\(db.url)", slot: "s_\(db.suffix)" }
              lite:
                type: sqlite
                path: \(dir.file("lite.db"))
                init_sql: "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"
            flows:
              - name: f
                from: \(pg)
                to: lite
                collections:
                  - namespace: t
                    stores:
                      \(pg): { table: t, key: id }
                      lite: { table: t, key: id }
            """, in: dir)
        let first = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(first.stoppedFlows.isEmpty)
        try await waitUntilSlotIsFree(db, "s_\(db.suffix)")  // the walsender of a closed stream ends a moment later
        try db.exec("SELECT pg_drop_replication_slot($1)", ["s_\(db.suffix)"])
        try db.exec("INSERT INTO t VALUES (1, 'x')")
        let second = try await withPGTimeout { try await PGPipeline.engine(config).runOnce() }
        #expect(second.stoppedFlows.count == 1)
        #expect(second.stoppedFlows.first?.contains("resync") == true)
    }
}
