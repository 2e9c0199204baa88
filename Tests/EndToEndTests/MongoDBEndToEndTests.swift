import Foundation
import SQLiteSupport
import Testing

/// `deltabridge` with a MongoDB store against a real MongoDB-wire server (DELTABRIDGE_MONGO_URL).
/// Serialized: SecantusDB (a Python server) opens each change stream by scanning its oplog, so
/// several bridges at once slow each other down far more than they would on MongoDB.
@Suite(.serialized) struct MongoDBEndToEndTests {
    static func pipeline(_ name: String, _ url: String, _ database: String, flow: String) -> String {
        """
        pipeline: \(name)
        stores:
          mongo:
            type: mongodb
            url: "\(url)"
            database: \(database)
          lite:
            type: sqlite
            path: lite.db
            init_sql: "CREATE TABLE IF NOT EXISTS people (id TEXT PRIMARY KEY, name TEXT, age INTEGER, address TEXT)"
        flows:
          - name: people
            \(flow)
            collections:
              - namespace: people
                stores:
                  mongo: { collection: people, key: _id, rename: { _id: id } }
                  lite: { table: people, key: id, json: [address] }
        """
    }

    @Test func oneWayMongoToSQLiteWithObjectIdsAndSubDocuments() async throws {
        let url = try MongoE2E.url()
        let database = MongoE2E.database()
        defer { MongoE2E.drop(database) }
        let box = try Sandbox()
        let file = try box.write("p.yaml", Self.pipeline("oneway", url, database, flow: "from: mongo\n    to: lite"))
        try MongoE2E.run(database, """
            db.people.insert_many([
              {"_id": ObjectId("65a1b2c3d4e5f60718293a4b"), "name": "Ada", "age": 36, "address": {"city": "London", "zip": "N1"}},
              {"_id": "bob", "name": "Bob", "age": Int64(40)}])
            """)
        try await mongoRunOnce(file, "oneway", in: box)
        let lite = box.file("lite.db")
        #expect(show(try DB.table(lite, "people", orderBy: "id")) == show([
            [t("$oid:65a1b2c3d4e5f60718293a4b"), t("Ada"), i(36), t(#"{"city":"London","zip":"N1"}"#)],
            [t("bob"), t("Bob"), i(40), .null],
        ]))
        try MongoE2E.run(database, """
            db.people.update_one({"_id": "bob"}, {"$set": {"age": 41}, "$unset": {"name": ""}})
            db.people.delete_one({"_id": ObjectId("65a1b2c3d4e5f60718293a4b")})
            db.people.insert_one({"_id": "cy", "name": "Cy"})
            """)
        let second = try await mongoRunOnce(file, "oneway", in: box)
        #expect(second.deadLetters == 0)
        #expect(show(try DB.table(lite, "people", orderBy: "id")) == show([
            [t("bob"), .null, i(41), .null],
            [t("cy"), t("Cy"), .null, .null],
        ]))
    }

    @Test func twoWayConflictingEditsConvergeAndEchoesStayQuiet() async throws {
        let url = try MongoE2E.url()
        let database = MongoE2E.database()
        defer { MongoE2E.drop(database) }
        let box = try Sandbox()
        let file = try box.write("p.yaml", Self.pipeline("twoway", url, database, flow: "two_way: [mongo, lite]"))
        try MongoE2E.run(database, #"db.people.insert_one({"_id": "ada", "name": "Ada", "age": 36})"#)
        _ = try await mongoRunOnceUntilQuiet(file, "twoway", in: box)
        let lite = box.file("lite.db")
        #expect(try DB.int(lite, "SELECT age FROM people WHERE id = 'ada'") == 36)

        // The same attribute edited on both sides (SQLite's edit is later), and different
        // attributes of one document on each side.
        try MongoE2E.run(database, #"db.people.update_one({"_id": "ada"}, {"$set": {"name": "Ada M", "age": 37}})"#)
        try await advanceClock()
        try DB.exec(lite, "UPDATE people SET name = 'Ada S', address = '{\"city\":\"Paris\"}' WHERE id = 'ada'")
        try DB.exec(lite, "INSERT INTO people (id, name) VALUES ('new', 'from sqlite')")
        let runs = try await mongoRunOnceUntilQuiet(file, "twoway", in: box)
        #expect(runs.last?.writes == 0)
        #expect(runs.last?.deltas == 0, "echoes of the bridge's writes are not changes")
        let doc = try MongoE2E.run(database, #"print(json.dumps(db.people.find_one({"_id": "ada"}), sort_keys=True))"#)
        #expect(doc.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"_id": "ada", "address": {"city": "Paris"}, "age": 37, "name": "Ada S"}"#)
        #expect(show(try DB.table(lite, "people", orderBy: "id")) == show([
            [t("ada"), t("Ada S"), i(37), t(#"{"city":"Paris"}"#)],
            [t("new"), t("from sqlite"), .null, .null],
        ]))
        let quiet = try await mongoRunOnce(file, "twoway", in: box)
        #expect(quiet.deltas == 0 && quiet.writes == 0)
    }

    @Test func killNineOfTheBridgeThenResumeLosesNothing() async throws {
        let url = try MongoE2E.url()
        let database = MongoE2E.database()
        defer { MongoE2E.drop(database) }
        let box = try Sandbox()
        let file = try box.write("p.yaml", Self.pipeline("crash", url, database, flow: "from: mongo\n    to: lite"))
        let lite = box.file("lite.db")
        var daemon = try Daemon(file, in: box)
        try MongoE2E.run(database, #"db.people.insert_one({"_id": "probe", "age": 0})"#)
        try await eventually("the probe document to arrive", timeout: 30) {
            (try? DB.int(lite, "SELECT count(*) FROM people WHERE id = 'probe'")) == 1
        }
        // An application inserts 400 documents and then updates each once, while the bridge is
        // killed and restarted in the middle.
        let writer = try MongoE2E.start(database, """
            for i in range(400):
                db.people.insert_one({"_id": "p%03d" % i, "age": i})
                time.sleep(0.004)
            for i in range(400):
                db.people.update_one({"_id": "p%03d" % i}, {"$set": {"name": "done"}})
                time.sleep(0.004)
            """)
        try await eventually("some documents to arrive", timeout: 60, detail: {
            "writer running: \(writer.isRunning), rows: \((try? DB.int(lite, "SELECT count(*) FROM people")) ?? -1)\n--- bridge stderr:\n\(daemon.stderr)"
        }) {
            (try? DB.int(lite, "SELECT count(*) FROM people")) ?? 0 > 50
        }
        let crashed = try await daemon.crash()
        #expect(crashed.signalled)
        let doneAtCrash = try DB.int(lite, "SELECT count(*) FROM people WHERE name = 'done'") ?? 0
        #expect(doneAtCrash < 400, "the crash came before the bridge had everything")
        daemon = try Daemon(file, in: box)
        try await eventually("every document with its update", timeout: 90, detail: {
            "rows: \((try? DB.int(lite, "SELECT count(*) FROM people")) ?? -1), done: \((try? DB.int(lite, "SELECT count(*) FROM people WHERE name = 'done'")) ?? -1)"
        }) {
            writer.isRunning == false && (try? DB.int(lite, "SELECT count(*) FROM people WHERE name = 'done'")) == 400
        }
        #expect(try DB.int(lite, "SELECT count(*) FROM people") == 401)
        #expect(try DB.int(lite, "SELECT sum(age) FROM people") == Int64((0..<400).reduce(0, +)))
        let stopped = try await daemon.terminate()
        #expect(stopped.exitCode == 0, "\(stopped)")
    }

    @Test func lagCountsEventsBehindTheChangeStream() async throws {
        let url = try MongoE2E.url()
        let database = MongoE2E.database()
        defer { MongoE2E.drop(database) }
        let box = try Sandbox()
        let file = try box.write("p.yaml", Self.pipeline("lagging", url, database, flow: "from: mongo\n    to: lite"))
        try MongoE2E.run(database, #"db.people.insert_one({"_id": "a"})"#)
        try await mongoRunOnce(file, "lagging", in: box)
        let caughtUp = try await lagRows(file, in: box)
        #expect(caughtUp.rows.count == 1, "\(caughtUp.text)")
        #expect(caughtUp.rows.first?.int("events_behind") == 0, "\(caughtUp.text)")
        #expect(caughtUp.rows.first?.string("head")?.hasPrefix("ts:") == true, "\(caughtUp.text)")
        try MongoE2E.run(database, #"db.people.insert_many([{"_id": "b"}, {"_id": "c"}]); db.people.delete_one({"_id": "a"})"#)
        let behind = try await lagRows(file, in: box)
        #expect(behind.rows.first?.int("events_behind") == 3, "\(behind.text)")
        try await mongoRunOnce(file, "lagging", in: box)
        #expect(try await lagRows(file, in: box).rows.first?.int("events_behind") == 0)
    }

    @Test func anUnreachableServerIsOneLineWithTheFix() async throws {
        let box = try Sandbox()
        let file = try box.write("p.yaml", Self.pipeline("down", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", "x", flow: "from: mongo\n    to: lite"))
        let r = try await deltabridge(["validate", file], in: box)
        #expect(r.exitCode != 0)
        let lines = r.stderrLines + r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("cannot reach the server") && $0.contains("url") }, "\(r)")
    }
}
