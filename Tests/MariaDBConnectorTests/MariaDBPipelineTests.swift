import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import Testing
@testable import MariaDBConnector

/// The MariaDB connector driven by the engine (PipelineEngine.runOnce) with PostgreSQL on the
/// other side, against real servers: every type round-trips MariaDB → PostgreSQL → MariaDB, and a
/// two-way flow with conflicting edits converges without echoes.
@Suite struct MariaDBPipelineTests {
    static let pgAllTypes = """
        CREATE TABLE all_types (id int4 PRIMARY KEY, ti int2, tiu int2, si int2, mi int4, i int4, bi int8, biu numeric, d numeric,
          f float8, dbl float8, b int8, y int4, dt date, t text, dtm timestamptz, ts timestamptz, c text, vc text, tx text, bl bytea,
          bn bytea, e text, s text, j jsonb, u uuid, i6 text, i4 text, ok bool)
        """

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "deltabridge-maria-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Records every cell that differs between two results of the same query (JSON by content).
    static func expectSameRows(_ before: MariaDBConnection.Result, _ after: MariaDBConnection.Result, way: String) {
        for (a, b) in zip(before.rows, after.rows) {
            for (i, column) in before.columns.enumerated() where a[i] != b[i] {
                // JSON is exchanged as a document: its formatting is not kept, its content is.
                if column.name == "j", let x = a[i], let y = b[i],
                   (try? JSONCodec.parse(String(decoding: x, as: UTF8.self))) == (try? JSONCodec.parse(String(decoding: y, as: UTF8.self))) {
                    continue
                }
                Issue.record("row \(before.text(before.rows.firstIndex(of: a) ?? 0, 0) ?? "?"), column \(column.name): \(a[i].map { String(decoding: $0, as: UTF8.self) } ?? "NULL") became \(b[i].map { String(decoding: $0, as: UTF8.self) } ?? "NULL") on the way \(way)")
            }
        }
    }

    @Test func everyTypeRoundTripsMariaDBToPostgresToMariaDBUnchanged() async throws {
        let src = try MariaDBTestDatabase()
        defer { src.drop() }
        let dst = try MariaDBTestDatabase()
        defer { dst.drop() }
        let pg = try MariaDBPGDatabase()
        defer { pg.drop() }
        try src.exec(MariaDBSourceTests.allTypes)
        try dst.exec(MariaDBSourceTests.allTypes)
        try pg.exec(Self.pgAllTypes)
        try src.exec(MariaDBSourceTests.allTypesRows)
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let down = try MariaDBPipeline.load("""
            pipeline: down
            state_dir: \(dir)/down
            stores:
              \(src.store()):
                type: mariadb
                url: "\(src.urlText)"
              \(pg.store()):
                type: postgres
                url: "\(pg.url)"
            flows:
              - name: down
                from: \(src.store())
                to: \(pg.store())
                collections:
                  - namespace: all_types
                    stores:
                      \(src.store()): { table: all_types, key: id }
                      \(pg.store()): { table: all_types, key: id }
            """, directory: dir)
        // Rows 1–3 through the snapshot, 4–6 through the binlog stream.
        let first = try await withMariaDBTimeout { try await MariaDBPipeline.engine(down).runOnce() }
        #expect(first.stoppedFlows.isEmpty, "\(first.stoppedFlows)")
        #expect(first.deadLetters == 0)
        try src.exec(MariaDBSourceTests.allTypesRows.replacingOccurrences(of: "(1, ", with: "(4, ").replacingOccurrences(of: "(2, ", with: "(5, ").replacingOccurrences(of: "(3, ", with: "(6, "))
        let second = try await withMariaDBTimeout { try await MariaDBPipeline.engine(down).runOnce() }
        #expect(second.stoppedFlows.isEmpty, "\(second.stoppedFlows)")
        #expect(second.deadLetters == 0)
        #expect(second.events == 3)

        let up = try MariaDBPipeline.load("""
            pipeline: up
            state_dir: \(dir)/up
            stores:
              \(pg.store("pgup")):
                type: postgres
                url: "\(pg.url)"
              \(dst.store()):
                type: mariadb
                url: "\(dst.urlText)"
            flows:
              - name: up
                from: \(pg.store("pgup"))
                to: \(dst.store())
                collections:
                  - namespace: all_types
                    stores:
                      \(pg.store("pgup")): { table: all_types, key: id }
                      \(dst.store()): { table: all_types, key: id }
            """, directory: dir)
        let third = try await withMariaDBTimeout { try await MariaDBPipeline.engine(up).runOnce() }
        #expect(third.stoppedFlows.isEmpty, "\(third.stoppedFlows)")
        #expect(third.deadLetters == 0)
        let query = "SELECT * FROM all_types ORDER BY id"
        let before = try src.conn.query(query)
        let after = try dst.conn.query(query)
        #expect(before.rows.count == 6)
        #expect(after.rows.count == before.rows.count)
        Self.expectSameRows(before, after, way: "MariaDB → PostgreSQL → MariaDB")
    }

    @Test func createTrueMakesMissingTablesInMariaDBAndPostgres() async throws {
        let src = try MariaDBTestDatabase()
        defer { src.drop() }
        let dst = try MariaDBTestDatabase()
        defer { dst.drop() }
        let pg = try MariaDBPGDatabase()
        defer { pg.drop() }
        try src.exec(MariaDBSourceTests.allTypes)
        try src.exec(MariaDBSourceTests.allTypesRows)
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try MariaDBPipeline.load("""
            pipeline: create
            state_dir: \(dir)/create
            stores:
              \(src.store()): { type: mariadb, url: "\(src.urlText)" }
              \(dst.store()): { type: mariadb, url: "\(dst.urlText)" }
              \(pg.store()): { type: postgres, url: "\(pg.url)" }
            flows:
              - name: out
                from: \(src.store())
                to: [\(dst.store()), \(pg.store())]
                collections:
                  - namespace: all_types
                    stores:
                      \(src.store()): { table: all_types, key: id }
                      \(dst.store()): { table: all_types, key: id, create: true }
                      \(pg.store()): { table: all_types, key: id, create: true }
            """, directory: dir)
        let run = try await withMariaDBTimeout { try await MariaDBPipeline.engine(config).runOnce() }
        #expect(run.stoppedFlows.isEmpty, "\(run.stoppedFlows)")
        #expect(run.deadLetters == 0)

        // MariaDB → MariaDB: the same column types, the same rows.
        let types = "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'all_types' ORDER BY ORDINAL_POSITION"
        #expect(try dst.rows(types) == src.rows(types))
        let query = "SELECT * FROM all_types ORDER BY id"
        let before = try src.conn.query(query)
        let after = try dst.conn.query(query)
        #expect(before.rows.count == 3)
        #expect(after.rows.count == before.rows.count)
        Self.expectSameRows(before, after, way: "MariaDB → MariaDB")

        // MariaDB → PostgreSQL: a table with the closest types, every row.
        let pgTypes = try pg.rows("SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'all_types'::regclass AND attnum > 0 ORDER BY attnum").map { $0[0]! }
        #expect(pgTypes.contains("id bigint"))
        #expect(pgTypes.contains("dtm timestamp with time zone"))
        #expect(pgTypes.contains("bl bytea"))
        #expect(pgTypes.contains("u uuid"))
        #expect(try pg.rows("SELECT count(*) FROM all_types") == [["3"]])
    }

    @Test func twoWayConflictingEditsConvergeWithoutEchoes() async throws {
        let maria = try MariaDBTestDatabase()
        defer { maria.drop() }
        let pg = try MariaDBPGDatabase()
        defer { pg.drop() }
        try maria.exec("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(50), note VARCHAR(50))")
        try pg.exec("CREATE TABLE people (id int PRIMARY KEY, name text, email text, note text)")
        try maria.exec("INSERT INTO people VALUES (1, 'Ada', 'ada@x', NULL), (2, 'Bo', 'bo@x', NULL)")
        try pg.exec("INSERT INTO people VALUES (3, 'Cy', 'cy@x', NULL)")
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try MariaDBPipeline.load("""
            pipeline: both
            state_dir: \(dir)/state
            stores:
              \(maria.store()):
                type: mariadb
                url: "\(maria.urlText)"
              \(pg.store()):
                type: postgres
                url: "\(pg.url)"
            flows:
              - name: people
                two_way: [\(maria.store()), \(pg.store())]
                collections:
                  - namespace: people
                    stores:
                      \(maria.store()): { table: people, key: id }
                      \(pg.store()): { table: people, key: id }
            """, directory: dir)
        let first = try await withMariaDBTimeout { try await MariaDBPipeline.engine(config).runOnce() }
        #expect(first.stoppedFlows.isEmpty, "\(first.stoppedFlows)")
        let query = "SELECT id, name, email, note FROM people ORDER BY id"
        #expect(try maria.rows(query).count == 3)
        #expect(try pg.rows(query).count == 3)

        // Different attributes of one row on each side: both survive. The same attribute: the later
        // edit wins — MariaDB's binlog time has whole seconds, so the PostgreSQL edit comes after
        // the wall clock has moved past MariaDB's second.
        try maria.exec("UPDATE people SET name = 'Ada Lovelace', note = 'maria' WHERE id = 1")
        try maria.exec("DELETE FROM people WHERE id = 3")
        let second = Date().timeIntervalSince1970.rounded(.down) + 1
        try await eventually("the wall clock reaches the next second") { Date().timeIntervalSince1970 >= second + 0.05 }
        try pg.exec("UPDATE people SET email = 'ada@pg', note = 'pg' WHERE id = 1")
        try pg.exec("UPDATE people SET name = 'Bo (pg)' WHERE id = 2")
        let converge = try await withMariaDBTimeout { try await MariaDBPipeline.engine(config).runOnce() }
        #expect(converge.stoppedFlows.isEmpty, "\(converge.stoppedFlows)")
        let m = try maria.rows(query)
        let p = try pg.rows(query)
        #expect(m == p)
        #expect(m == [["1", "Ada Lovelace", "ada@pg", "pg"], ["2", "Bo (pg)", "bo@x", nil]])

        // Echo suppression: the bridge's own writes come back from both stores and change nothing.
        let quiet = try await withMariaDBTimeout { try await MariaDBPipeline.engine(config).runOnce() }
        #expect(quiet.deltas == 0)
        #expect(quiet.patchesApplied == 0)
    }
}
