import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import SQLiteSupport
import Testing
@testable import MongoDBConnector

/// The MongoDB connector driven by the engine (PipelineEngine.runOnce) against real servers:
/// MongoDB wire (DELTABRIDGE_MONGO_URL) with PostgreSQL (DELTABRIDGE_PG_URL) or SQLite.
@Suite struct MongoPipelineTests {
    static let allTypes = BSONDocument([
        ("_id", .objectId(MongoValueMapping.objectId("$oid:65a1b2c3d4e5f60718293a4b")!)),
        ("i32", .int32(-7)), ("i64", .int64(1 << 40)), ("d", .double(-1.25)),
        ("dec", .decimal128(low: 0, high: 0)), ("s", .string("héllo ✓ \"q\"")), ("b", .bool(true)),
        ("date", .date(1_709_208_000_123)), ("ts", .timestamp(seconds: 1_700_000_000, increment: 3)),
        ("bin", .binary(subtype: 0, bytes: [0, 1, 255])), ("uuid", .binary(subtype: 4, bytes: Array("0123456789abcdef".utf8))),
        ("n", .null), ("arr", .array([.int32(1), .string("two"), .array([.bool(false)])])),
        ("doc", .document(BSONDocument([("x", .document(BSONDocument([("y", .int32(1))]))), ("z", .string("q"))]))),
        ("re", .regex(pattern: "^a.*", options: "i")), ("mn", .minKey),
    ])

    static let pgDDL = """
        CREATE TABLE items ("_id" text PRIMARY KEY, i32 int4, i64 int8, d float8, dec numeric, s text, b bool, date timestamptz,
            ts jsonb, bin bytea, uuid jsonb, n text, arr jsonb, doc jsonb, re jsonb, mn jsonb)
        """

    @Test func everyTypeRoundTripsMongoToPostgresToMongo() async throws {
        let mongo = try MongoTestDatabase()
        defer { mongo.drop() }
        let back = try MongoTestDatabase()
        defer { back.drop() }
        let pg = try MongoPGDatabase()
        defer { pg.drop() }
        try pg.exec(Self.pgDDL)
        var doc = Self.allTypes
        let (low, high) = LibBSON.decimal128("-12345.678901234567890123")!
        doc["dec"] = .decimal128(low: low, high: high)
        try mongo.insert("items", [doc])
        let dir = try MongoTemporaryDirectory()
        let (m, p, m2) = (mongo.store(), pg.store(), back.store("back"))
        // Two pipelines: the second reads what the first wrote (in one pipeline, PostgreSQL's
        // source would see those writes as the bridge's own echoes).
        let config = try MongoPipeline.load("""
            pipeline: down
            state_dir: \(dir.file("state-down"))
            stores:
              \(m): { type: mongodb, url: "\(mongo.url)", database: \(mongo.name) }
              \(p): { type: postgres, url: "\(pg.url)" }
            flows:
              - name: down
                from: \(m)
                to: \(p)
                collections:
                  - namespace: items
                    stores:
                      \(m): { collection: items, key: _id }
                      \(p): { table: items, key: _id }
            """, in: dir)
        let upConfig = try MongoPipeline.load("""
            pipeline: up
            state_dir: \(dir.file("state-up"))
            stores:
              \(p): { type: postgres, url: "\(pg.url)" }
              \(m2): { type: mongodb, url: "\(back.url)", database: \(back.name) }
            flows:
              - name: up
                from: \(p)
                to: \(m2)
                collections:
                  - namespace: items
                    stores:
                      \(p): { table: items, key: _id }
                      \(m2): { collection: items, key: _id }
            """, in: dir)
        let first = try await MongoPipeline.runOnce(config)
        #expect(first.stoppedFlows.isEmpty, "\(first.stoppedFlows)")
        #expect(first.deadLetters == 0)
        // A second document through the streams rather than the snapshots.
        var second = doc
        second["_id"] = .objectId(MongoValueMapping.objectId("$oid:65a1b2c3d4e5f60718293a4c")!)
        try mongo.insert("items", [second])
        let run = try await MongoPipeline.runOnce(config)
        #expect(run.stoppedFlows.isEmpty, "\(run.stoppedFlows)")
        #expect(run.deadLetters == 0)
        let up = try await MongoPipeline.runOnce(upConfig)
        #expect(up.stoppedFlows.isEmpty, "\(up.stoppedFlows)")
        #expect(up.deadLetters == 0)
        let rows = try pg.rows("SELECT \"_id\", i64::text, dec::text, date::text FROM items ORDER BY 1")
        #expect(rows.count == 2)
        #expect(rows.first?[0] == "$oid:65a1b2c3d4e5f60718293a4b")
        #expect(rows.first?[2] == "-12345.678901234567890123")
        for original in [doc, second] {
            let copy = try #require(try back.document("items", original["_id"]!))
            for (name, value) in original.fields {
                #expect(copy[name] == value, "field \(name): \(String(describing: copy[name])) is not \(value)")
            }
            #expect(copy.fields.count == original.fields.count)
        }
    }

    static func twoWayPipeline(_ mongo: MongoTestDatabase, _ pg: MongoPGDatabase, _ dir: MongoTemporaryDirectory) throws -> PipelineConfig {
        try MongoPipeline.load("""
            pipeline: twoway
            state_dir: \(dir.file("state"))
            stores:
              \(mongo.store()): { type: mongodb, url: "\(mongo.url)", database: \(mongo.name) }
              \(pg.store()): { type: postgres, url: "\(pg.url)" }
            flows:
              - name: people
                two_way: [\(mongo.store()), \(pg.store())]
                collections:
                  - namespace: people
                    stores:
                      \(mongo.store()): { collection: people, key: _id, rename: { _id: id } }
                      \(pg.store()): { table: people, key: id }
            """, in: dir)
    }

    @Test func twoWayMongoPostgresConflictingEditsConverge() async throws {
        let mongo = try MongoTestDatabase()
        defer { mongo.drop() }
        let pg = try MongoPGDatabase()
        defer { pg.drop() }
        try pg.exec("CREATE TABLE people (id text PRIMARY KEY, name text, email text, age int8)")
        try mongo.insert("people", [BSONDocument(["_id": .string("ada"), "name": .string("Ada"), "email": .string("ada@x"), "age": .int32(36)])])
        try pg.exec("INSERT INTO people VALUES ('bob', 'Bob', 'bob@x', 40)")
        let dir = try MongoTemporaryDirectory()
        let config = try Self.twoWayPipeline(mongo, pg, dir)
        let first = try await MongoPipeline.runOnce(config)
        #expect(first.stoppedFlows.isEmpty, "\(first.stoppedFlows)")
        #expect(try mongo.document("people", .string("bob"))?["name"] == .string("Bob"))
        #expect(try pg.rows("SELECT name FROM people WHERE id = 'ada'") == [["Ada"]])

        // Conflicting edits of one attribute, and edits of different attributes of one document.
        try mongo.update("people", .string("ada"), BSONDocument(["$set": .document(BSONDocument(["name": .string("Ada (mongo)"), "age": .int32(37)]))]))
        try await Task.sleep(for: .milliseconds(5))
        try pg.exec("UPDATE people SET name = 'Ada (pg)', email = 'ada@pg' WHERE id = 'ada'")
        try mongo.delete("people", .string("bob"))
        try pg.exec("UPDATE people SET age = 41 WHERE id = 'bob'")
        let run = try await MongoPipeline.runOnce(config)
        #expect(run.stoppedFlows.isEmpty, "\(run.stoppedFlows)")
        _ = try await MongoPipeline.runOnce(config)

        let ada = try #require(try mongo.document("people", .string("ada")))
        let pgAda = try pg.rows("SELECT name, email, age FROM people WHERE id = 'ada'")
        #expect(pgAda == [[ada["name"].flatMap { if case let .string(s) = $0 { s } else { nil } }, "ada@pg", "37"]])
        #expect(ada["email"] == .string("ada@pg"))
        #expect(ada["age"] == .int32(37))
        #expect(pgAda.first?[0] == "Ada (pg)", "the later edit (PostgreSQL's) wins")
        // bob: deleted in MongoDB, age edited later in PostgreSQL: the later edit restores it (rule 6).
        let pgBob = try pg.rows("SELECT name, age FROM people WHERE id = 'bob'")
        let mongoBob = try mongo.document("people", .string("bob"))
        #expect(pgBob.isEmpty == (mongoBob == nil))

        // Quiet now: a further run moves nothing (echoes are not changes).
        let quiet = try await MongoPipeline.runOnce(config)
        #expect(quiet.deltas == 0)
        #expect(quiet.patchesApplied == 0)
    }

    @Test func echoesNeverBecomeDeltasButARestoredValueStillCounts() async throws {
        let mongo = try MongoTestDatabase()
        defer { mongo.drop() }
        let dir = try MongoTemporaryDirectory()
        let lite = dir.file("lite.db")
        let m = mongo.store()
        let config = try MongoPipeline.load("""
            pipeline: echoes
            state_dir: \(dir.file("state"))
            options:
              batch_size: 1
            stores:
              \(m): { type: mongodb, url: "\(mongo.url)", database: \(mongo.name) }
              lite:
                type: sqlite
                path: \(lite)
                init_sql: "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, x INTEGER, y TEXT)"
            flows:
              - name: t
                two_way: [\(m), lite]
                collections:
                  - namespace: t
                    stores:
                      \(m): { collection: t, key: _id, rename: { _id: id } }
                      lite: { table: t, key: id }
            """, in: dir)
        _ = try await MongoPipeline.runOnce(config)
        func sql(_ text: String) throws {
            let db = try SQLiteDatabase(path: lite)
            try db.execute(text)
        }
        func liteX() throws -> Int64? {
            let db = try SQLiteDatabase(path: lite)
            let s = try db.prepare("SELECT x FROM t WHERE id = 1")
            guard try s.step() else { return nil }
            return s.int64(0)
        }
        // The bridge writes x = 1, then x = 5 into MongoDB (one change per batch, both before it
        // reads MongoDB's stream): neither echo may become a delta, not even the stale x = 1.
        try sql("INSERT INTO t VALUES (1, 1, 'a')")
        try sql("UPDATE t SET x = 5 WHERE id = 1")
        let write = try await MongoPipeline.runOnce(config)
        #expect(write.deltas == 4, "3 for the insert, 1 for the update, none for the echoes")
        #expect(write.guardsFailed == 0)
        #expect(try mongo.document("t", .int32(1))?["x"] == .int32(5))
        #expect(try liteX() == 5)
        let echo = try await MongoPipeline.runOnce(config)
        #expect(echo.deltas == 0, "an echo is not a change")
        #expect(echo.patchesApplied == 0)
        try sql("UPDATE t SET x = 1 WHERE id = 1")
        _ = try await MongoPipeline.runOnce(config)
        // A real edit in MongoDB, then another one that restores the bridge's earlier value.
        try mongo.update("t", .int32(1), BSONDocument(["$set": .document(BSONDocument(["x": .int32(2)]))]))
        _ = try await MongoPipeline.runOnce(config)
        #expect(try liteX() == 2)
        try mongo.update("t", .int32(1), BSONDocument(["$set": .document(BSONDocument(["x": .int32(1)]))]))
        let restored = try await MongoPipeline.runOnce(config)
        #expect(restored.deltas == 1, "x = 1 again is a real edit")
        #expect(try liteX() == 1)
        // Both edits in one batch: still both real.
        try mongo.update("t", .int32(1), BSONDocument(["$set": .document(BSONDocument(["x": .int32(3)]))]))
        try mongo.update("t", .int32(1), BSONDocument(["$set": .document(BSONDocument(["x": .int32(1)]))]))
        _ = try await MongoPipeline.runOnce(config)
        #expect(try liteX() == 1)
        let quiet = try await MongoPipeline.runOnce(config)
        #expect(quiet.deltas == 0)
    }

    @Test func aStaleEchoNeverWinsOverANewerEdit() async throws {
        let mongo = try MongoTestDatabase()
        defer { mongo.drop() }
        let dir = try MongoTemporaryDirectory()
        let (a, b) = (dir.file("a.db"), dir.file("b.db"))
        let m = mongo.store()
        let ddl = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, x INTEGER)"
        let config = try MongoPipeline.load("""
            pipeline: stale
            state_dir: \(dir.file("state"))
            stores:
              \(m): { type: mongodb, url: "\(mongo.url)", database: \(mongo.name) }
              a: { type: sqlite, path: \(a), init_sql: "\(ddl)" }
              b: { type: sqlite, path: \(b), init_sql: "\(ddl)" }
            flows:
              - name: t
                two_way: [\(m), a, b]
                collections:
                  - namespace: t
                    stores:
                      \(m): { collection: t, key: _id, rename: { _id: id } }
                      a: { table: t, key: id }
                      b: { table: t, key: id }
            """, in: dir)
        try mongo.insert("t", [BSONDocument(["_id": .int32(1), "x": .int32(0)])])
        _ = try await MongoPipeline.runOnce(config)
        // a sets x = 1, then b sets x = 5: the bridge writes both into MongoDB before it reads
        // MongoDB's stream, where the echo of x = 1 then comes after the ledger moved on to 5.
        try SQLiteDatabase(path: a).execute("UPDATE t SET x = 1 WHERE id = 1")
        try await Task.sleep(for: .milliseconds(20))
        try SQLiteDatabase(path: b).execute("UPDATE t SET x = 5 WHERE id = 1")
        let run = try await MongoPipeline.runOnce(config)
        #expect(run.deltas == 2, "one delta per real edit, none for the echoes")
        _ = try await MongoPipeline.runOnce(config)
        #expect(try mongo.document("t", .int32(1))?["x"] == .int32(5))
        for path in [a, b] {
            let s = try SQLiteDatabase(path: path).prepare("SELECT x FROM t WHERE id = 1")
            #expect(try s.step())
            #expect(s.int64(0) == 5, "\(path)")
        }
    }

    @Test func nestedPathsMergeEditsInsideOneSubDocument() async throws {
        let mongo = try MongoTestDatabase()
        defer { mongo.drop() }
        let dir = try MongoTemporaryDirectory()
        let lite = dir.file("lite.db")
        let m = mongo.store()
        try mongo.insert("t", [BSONDocument(["_id": .int32(1), "addr": .document(BSONDocument(["city": .string("Oslo"), "zip": .string("0150")]))])])
        let config = try MongoPipeline.load("""
            pipeline: nested
            state_dir: \(dir.file("state"))
            stores:
              \(m): { type: mongodb, url: "\(mongo.url)", database: \(mongo.name), nested: paths }
              lite:
                type: sqlite
                path: \(lite)
                init_sql: "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, city TEXT, zip TEXT)"
            flows:
              - name: t
                two_way: [\(m), lite]
                collections:
                  - namespace: t
                    stores:
                      \(m): { collection: t, key: _id, rename: { _id: id, addr.city: city, addr.zip: zip } }
                      lite: { table: t, key: id }
            """, in: dir)
        _ = try await MongoPipeline.runOnce(config)
        // Different fields of one sub-document edited on both sides: both survive.
        try mongo.update("t", .int32(1), BSONDocument(["$set": .document(BSONDocument(["addr.city": .string("Bergen")]))]))
        let db = try SQLiteDatabase(path: lite)
        try db.execute("UPDATE t SET zip = '5003' WHERE id = 1")
        _ = try await MongoPipeline.runOnce(config)
        _ = try await MongoPipeline.runOnce(config)
        let doc = try #require(try mongo.document("t", .int32(1)))
        #expect(doc.value(atPath: "addr.city") == .string("Bergen"))
        #expect(doc.value(atPath: "addr.zip") == .string("5003"))
        let s = try db.prepare("SELECT city, zip FROM t WHERE id = 1")
        #expect(try s.step())
        #expect(s.text(0) == "Bergen")
        #expect(s.text(1) == "5003")
    }
}
