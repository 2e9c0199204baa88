import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import SQLiteSupport
import Testing
@testable import CouchDBConnector

/// The CouchDB connector driven by the engine with PostgreSQL and SQLite on the other side,
/// against real servers (DELTABRIDGE_COUCHDB_URL, DELTABRIDGE_PG_URL).
@Suite struct CouchDBPipelineTests {
    static let peopleDDL = "CREATE TABLE people (id int PRIMARY KEY, name text, city text, score float8, active bool, profile jsonb)"

    static func twoWay(_ dir: CouchDBTemporaryDirectory, couch: CouchDBTestDatabase, pg: CouchPGDatabase) -> String {
        let s = couch.suffix
        return """
            pipeline: both
            state_dir: \(dir.file("state"))
            stores:
              couch_\(s):
                type: couchdb
                url: "\(couch.url)"
              pg_\(s):
                type: postgres
                url: "\(pg.url)"
            flows:
              - name: people
                two_way: [couch_\(s), pg_\(s)]
                collections:
                  - namespace: people
                    stores:
                      couch_\(s): { collection: \(couch.name), key: id }
                      pg_\(s): { table: people, key: id }
            """
    }

    @Test func couchDBToPostgresAndBackKeepsEveryValue() async throws {
        let couch = try CouchDBTestDatabase()
        defer { couch.drop() }
        let back = try CouchDBTestDatabase()
        defer { back.drop() }
        let pg = try CouchPGDatabase(originSuffixes: [couch.suffix])
        defer { pg.drop() }
        try pg.exec(Self.peopleDDL)
        let profile: Value = .object(["tags": .array([.string("ü"), .string("😀")]), "n": .null, "deep": .object(["x": .double(1.5), "ok": .bool(false)])])
        try couch.put("1", ["id": .int(1), "name": .string("Zoë \"Z\" ✓"), "city": .null, "score": .double(2.5), "active": .bool(true), "profile": profile])
        try couch.put("2", ["id": .int(2), "name": .string("two"), "score": .double(-0.125), "active": .bool(false)])
        let dir = try CouchDBTemporaryDirectory()
        let s = couch.suffix
        let down = try CouchDBPipeline.load("""
            pipeline: down
            state_dir: \(dir.file("state-down"))
            stores:
              couch: { type: couchdb, url: "\(couch.url)" }
              pg_\(s): { type: postgres, url: "\(pg.url)" }
            flows:
              - name: down
                from: couch
                to: pg_\(s)
                collections:
                  - namespace: people
                    stores:
                      couch: { collection: \(couch.name), key: id }
                      pg_\(s): { table: people, key: id }
            """, in: dir)
        let first = try await withCouchTimeout(120, "CouchDB to PostgreSQL") { try await CouchDBPipeline.engine(down).runOnce() }
        #expect(first.stoppedFlows.isEmpty)
        #expect(first.deadLetters == 0)
        #expect(try pg.rows("SELECT id, name, city, score, active, profile::text FROM people ORDER BY id") == [
            ["1", "Zoë \"Z\" ✓", nil, "2.5", "t", #"{"n": null, "deep": {"x": 1.5, "ok": false}, "tags": ["ü", "😀"]}"#],
            ["2", "two", nil, "-0.125", "f", nil],
        ])
        // Through PostgreSQL and back into another CouchDB database: the same documents (a
        // column PostgreSQL holds as NULL arrives as a null member).
        let up = try CouchDBPipeline.load("""
            pipeline: up
            state_dir: \(dir.file("state-up"))
            stores:
              pg2_\(s): { type: postgres, url: "\(pg.url)" }
              back: { type: couchdb, url: "\(couch.url)" }
            flows:
              - name: up
                from: pg2_\(s)
                to: back
                collections:
                  - namespace: people
                    stores:
                      pg2_\(s): { table: people, key: id }
                      back: { collection: \(back.name), key: id }
            """, in: dir)
        let upRun = try await withCouchTimeout(120, "PostgreSQL to CouchDB") { try await CouchDBPipeline.engine(up).runOnce() }
        #expect(upRun.stoppedFlows.isEmpty)
        #expect(try back.content("1") == couch.content("1"))
        var two = try couch.content("2") ?? [:]
        two["city"] = .null
        two["profile"] = .null
        #expect(try back.content("2") == two)

        // Deletes and re-creates travel too.
        try couch.delete("2")
        try couch.put("3", ["id": .int(3), "name": .string("three")])
        let second = try await withCouchTimeout(120, "the deletes") { try await CouchDBPipeline.engine(down).runOnce() }
        #expect(second.stoppedFlows.isEmpty)
        #expect(try pg.rows("SELECT id FROM people ORDER BY id") == [["1"], ["3"]])
        try couch.put("2", ["id": .int(2), "name": .string("again")])
        _ = try await withCouchTimeout(120, "the re-create") { try await CouchDBPipeline.engine(down).runOnce() }
        #expect(try pg.rows("SELECT id, name, score FROM people WHERE id = 2") == [["2", "again", nil]])
    }

    @Test func twoWayWithPostgresConvergesAfterConcurrentEdits() async throws {
        let couch = try CouchDBTestDatabase()
        defer { couch.drop() }
        let pg = try CouchPGDatabase(originSuffixes: [couch.suffix])
        defer { pg.drop() }
        try pg.exec(Self.peopleDDL)
        try pg.exec("INSERT INTO people (id, name, city) VALUES (1, 'Ada', 'London'), (2, 'Brian', 'Paris')")
        try couch.put("3", ["id": .int(3), "name": .string("Chen"), "city": .string("Oslo")])
        let dir = try CouchDBTemporaryDirectory()
        let config = try CouchDBPipeline.load(Self.twoWay(dir, couch: couch, pg: pg), in: dir)
        func once() async throws -> PipelineEngine.Summary {
            try await withCouchTimeout(120, "a two-way run") { try await CouchDBPipeline.engine(config).runOnce() }
        }
        let first = try await once()
        #expect(first.stoppedFlows.isEmpty)
        #expect(try couch.content("1") == ["id": .int(1), "name": .string("Ada"), "city": .string("London"), "score": .null, "active": .null, "profile": .null])
        #expect(try pg.rows("SELECT id, name, city FROM people WHERE id = 3") == [["3", "Chen", "Oslo"]])

        // Concurrent edits of different attributes of one document both survive (rule 1); the same
        // attribute edited on both sides goes to the later write (PostgreSQL first, CouchDB after).
        try pg.exec("UPDATE people SET city = 'Cambridge', name = 'Ada L.' WHERE id = 1")
        try couch.put("1", ["id": .int(1), "name": .string("Ada Lovelace"), "city": .string("London"), "score": .double(9.5)])
        try pg.exec("DELETE FROM people WHERE id = 2")
        let revBefore = try couch.get("3")?["_rev"]
        let second = try await once()
        #expect(second.stoppedFlows.isEmpty)
        let expected: [String: Value] = ["id": .int(1), "name": .string("Ada Lovelace"), "city": .string("Cambridge"), "score": .double(9.5)]
        #expect(try couch.content("1") == expected)
        #expect(try pg.rows("SELECT id, name, city, score FROM people WHERE id = 1") == [["1", "Ada Lovelace", "Cambridge", "9.5"]])
        #expect(try couch.get("2") == nil)
        #expect(try couch.get("3")?["_rev"] == revBefore, "an untouched document is not rewritten")

        // Echo suppression: a run with nothing new writes nothing, anywhere.
        let revs = try ["1", "3"].map { try couch.get($0)?["_rev"] }
        let quiet = try await once()
        #expect(quiet.patchesApplied == 0)
        #expect(quiet.deltas == 0)
        #expect(try ["1", "3"].map { try couch.get($0)?["_rev"] } == revs)
    }

    @Test func theFeedSurvivesAStandinRestartAndResumesFromItsCheckpoint() async throws {
        let dir = try CouchDBTemporaryDirectory()
        let standin = try PrivateCouchStandin(data: dir.file("couch-data"))
        try FileManager.default.createDirectory(atPath: dir.file("couch-data"), withIntermediateDirectories: true)
        try await offPool { try standin.start() }
        defer { standin.stop(hard: true) }
        guard case let .success(server) = CouchDBServer.parse(standin.url) else { Issue.record("url"); return }
        let couch = try CouchDBTestDatabase(server: server, url: standin.url)
        try couch.put("before", ["id": .string("before"), "v": .int(1)])
        let lite = dir.file("lite.db")
        let config = try CouchDBPipeline.load("""
            pipeline: restart
            state_dir: \(dir.file("state"))
            stores:
              couch: { type: couchdb, url: "\(standin.url)" }
              lite:
                type: sqlite
                path: \(lite)
                init_sql: "CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, v INTEGER)"
            flows:
              - name: docs
                from: couch
                to: lite
                collections:
                  - namespace: docs
                    stores:
                      couch: { collection: \(couch.name), key: _id, rename: { _id: id } }
                      lite: { table: docs, key: id }
            """, in: dir)
        let engine = try CouchDBPipeline.engine(config)
        let running = Task { try await engine.run() }
        defer { running.cancel() }
        @Sendable func ids() throws -> Set<String> {
            guard FileManager.default.fileExists(atPath: lite) else { return [] }
            let db = try SQLiteDatabase(path: lite, mode: .init(readOnly: true, create: false))
            // The sink creates the file, then the table (its init_sql): between the two, nothing yet.
            guard try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'docs'") == 1 else { return [] }
            let s = try db.prepare("SELECT id FROM docs")
            var out = Set<String>()
            while try s.step() { out.insert(s.text(0)) }
            return out
        }
        try await awaitCouch("the snapshot in SQLite") { try ids() == ["before"] }
        try couch.put("live", ["v": .int(2)])
        try await awaitCouch("a change through the open feed") { try ids() == ["before", "live"] }

        try await offPool { standin.stop(hard: true) }
        try await offPool { try standin.start() }  // same port and data: the saved seq still works
        try couch.put("afterRestart", ["v": .int(3)])
        try await awaitCouch("a change after the stand-in restarted", seconds: 60) { try ids() == ["before", "live", "afterRestart"] }
        running.cancel()
        _ = try? await running.value

        // A new engine (a restarted bridge) resumes from the checkpoint: nothing is read twice.
        try couch.put("whileDown", ["v": .int(4)])
        let resumed = try await withCouchTimeout(60, "the resumed run") { try await CouchDBPipeline.engine(config).runOnce() }
        #expect(resumed.events == 1)
        #expect(try ids() == ["before", "live", "afterRestart", "whileDown"])
    }
}
