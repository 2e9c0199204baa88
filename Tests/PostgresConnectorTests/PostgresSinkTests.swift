import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import PostgresConnector

/// The sink against a real PostgreSQL (DELTABRIDGE_PG_URL).
@Suite struct PostgresSinkTests {
    static let schema = """
        CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL DEFAULT '', age int CHECK (age >= 0), tags text[],
                             prefs jsonb, doc json, seen timestamptz, code varchar(3), total int GENERATED ALWAYS AS (age * 2) STORED);
        """

    @Test func largeGroupsGoThroughCopyWithEscapesNullsAndPerRowRejection() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec(Self.schema)
        try db.exec("INSERT INTO people (id, name, age) SELECT g, 'before', 1 FROM generate_series(1, 100) g")
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "people", keyAttributes: ["id"])])
        let tricky = "tab\there, newline\nand\r\\back\\slash \\N é 😀 \"quoted\""
        func patches(_ ids: ClosedRange<Int>, bad: Int?) -> [DocumentPatch] {
            ids.map { i in
                DocumentPatch(collection: "people", key: ["id": .int(Int64(i))],
                              action: .upsert(set: ["name": .string(i % 3 == 0 ? tricky : "n\(i)"), "age": .int(i == bad ? -5 : Int64(i)),
                                                    "tags": i % 2 == 0 ? .array([.string("a\tb"), .null]) : .null,
                                                    "prefs": .object(["k": .string("v\n\\")])], unset: []))
            }
        }
        // 300 rows in one group (updates of 1...100, inserts of 101...300): above the COPY threshold.
        let first = try await sink.apply(patches(1...300, bad: nil))
        #expect(first.allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FROM people") == "300")
        #expect(try db.scalar("SELECT name FROM people WHERE id = 3") == tricky)
        #expect(try db.scalar("SELECT count(*) FROM people WHERE name = $1", [tricky]) == "100")
        #expect(try db.scalar("SELECT tags::text FROM people WHERE id = 2") == "{\"a\tb\",NULL}")
        #expect(try db.scalar("SELECT tags IS NULL FROM people WHERE id = 1") == "t")
        #expect(try db.scalar("SELECT prefs->>'k' FROM people WHERE id = 7") == "v\n\\")
        #expect(try db.scalar("SELECT sum(age) FROM people") == String((1...300).reduce(0, +)))

        // One row the table refuses (CHECK): the group falls back to row by row; only it is refused.
        let second = try await sink.apply(patches(1...200, bad: 150))
        #expect(second.enumerated().allSatisfy { i, r in i == 149 ? r != .applied : r == .applied })
        guard case let .rejected(reason) = second[149] else { Issue.record("row 150 should be refused"); return }
        #expect(reason.contains("people_age_check"))
        #expect(try db.scalar("SELECT age FROM people WHERE id = 150") == "150")
        // The rows went through the sink session's temporary staging table.
        #expect(try db.scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'deltabridge\\_stage\\_%' AND relpersistence = 't'") == "1")
    }

    @Test func newRowsAreCopiedStraightInAndExistingKeysFallBackToStaging() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec(Self.schema)
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "people", keyAttributes: ["id"])])
        func patches(_ ids: ClosedRange<Int>, age: Int64, bad: Int? = nil) -> [DocumentPatch] {
            ids.map { i in
                DocumentPatch(collection: "people", key: ["id": .int(Int64(i))],
                              action: .upsert(set: ["age": .int(i == bad ? -1 : age), "code": .string("c\(i % 10)")], unset: []))
            }
        }
        let stagingTables = "SELECT count(*) FROM pg_class WHERE relname LIKE 'deltabridge\\_stage\\_%' AND relpersistence = 't'"
        // New keys, one refused by the CHECK: the rest are in, the column left out has its default.
        let first = try await sink.apply(patches(1...200, age: 1, bad: 150))
        #expect(first.enumerated().allSatisfy { i, r in i == 149 ? r != .applied : r == .applied })
        #expect(try db.scalar("SELECT count(*) FROM people") == "199")
        #expect(try db.scalar("SELECT count(*) FROM people WHERE name = '' AND total = 2") == "199")
        // More new keys: straight in again, so no staging table was ever needed.
        #expect(try await sink.apply(patches(201...300, age: 2)).allSatisfy { $0 == .applied })
        #expect(try db.scalar(stagingTables) == "0")
        // Keys the table holds (251...300) among new ones: the COPY meets them and the group is
        // written through the staging table instead, updating the existing rows.
        #expect(try await sink.apply(patches(251...400, age: 3)).allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FROM people") == "399")
        #expect(try db.scalar("SELECT count(*) FROM people WHERE age = 3") == "150")
        #expect(try db.scalar("SELECT count(*) FROM people WHERE age = 2") == "50")
        #expect(try db.scalar(stagingTables) == "1")
    }

    @Test func identityColumnsKeepTheGivenKeysOnEveryPath() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE counters (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int)")
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "counters", keyAttributes: ["id"])])
        func patches(_ ids: ClosedRange<Int>, _ n: Int64) -> [DocumentPatch] {
            ids.map { DocumentPatch(collection: "counters", key: ["id": .int(Int64($0 * 10))], action: .upsert(set: ["n": .int(n)], unset: [])) }
        }
        // New keys (straight COPY), then existing ones (staging), then a few (multi-row INSERT).
        #expect(try await sink.apply(patches(1...100, 1)).allSatisfy { $0 == .applied })
        #expect(try await sink.apply(patches(51...150, 2)).allSatisfy { $0 == .applied })
        #expect(try await sink.apply(patches(1...3, 3)).allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FILTER (WHERE id % 10 = 0) || '/' || count(*) || '/' || sum(n) FROM counters") == "150/150/256")
    }

    @Test func upsertsReplacesAndDeletesInOneBatchWithRejectionsNamingTheColumn() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec(Self.schema)
        try db.exec("INSERT INTO people (id, name, age, code) VALUES (9, 'gone', 1, 'x'), (8, 'old', 50, 'abc')")
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "people", keyAttributes: ["id"])])
        var patches: [DocumentPatch] = []
        for i in 1...5 {
            patches.append(DocumentPatch(collection: "people", key: ["id": .int(Int64(i))],
                                         action: .upsert(set: ["name": .string("p\(i)"), "age": .int(Int64(20 + i))], unset: [])))
        }
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(6)], action: .upsert(set: ["name": .string("bad"), "age": .int(-1)], unset: [])))
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(7)], action: .upsert(set: ["name": .string("x"), "age": .string("old")], unset: [])))
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(8)],
                                     action: .replace(["name": .string("new"), "tags": .array([.string("a"), .null]), "prefs": .object(["k": .array([.int(1)])]),
                                                       "doc": .object(["z": .bool(true)]), "seen": .timestamp(1_700_000_000_123_456)])))
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(9)], action: .delete))
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(10)], action: .upsert(set: ["nope": .string("x")], unset: [])))
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(11)], action: .upsert(set: ["code": .string("toolong")], unset: [])))
        patches.append(DocumentPatch(collection: "people", key: ["id": .int(12)], action: .upsert(set: ["name": .null], unset: [])))
        let results = try await sink.apply(patches)
        #expect(results[0..<5].allSatisfy { $0 == .applied })
        guard case let .rejected(r6) = results[5] else { Issue.record("6 should be rejected"); return }
        #expect(r6.contains("people") && r6.contains("people_age_check"))
        guard case let .rejected(r7) = results[6] else { Issue.record("7 should be rejected"); return }
        #expect(r7.contains("column 'age'"))
        #expect(results[7] == .applied)
        #expect(results[8] == .applied)
        guard case let .rejected(r10) = results[9] else { Issue.record("10 should be rejected"); return }
        #expect(r10.contains("no column 'nope'"))
        guard case let .rejected(r11) = results[10] else { Issue.record("11 should be rejected"); return }
        #expect(r11.contains("code"))
        guard case let .rejected(r12) = results[11] else { Issue.record("12 should be rejected"); return }
        #expect(r12.contains("name"))

        let rows = try db.rows("SELECT id, name, age, tags::text, prefs::text, doc::text, seen::text, code, total FROM people ORDER BY id")
        #expect(rows.map { $0[0]! } == ["1", "2", "3", "4", "5", "8"])
        #expect(rows[0][1] == "p1" && rows[0][2] == "21" && rows[0][8] == "42")
        #expect(rows[5] == ["8", "new", nil, "{a,NULL}", "{\"k\": [1]}", "{\"z\":true}", "2023-11-14 22:13:20.123456+00", nil, nil])
        #expect(try db.scalar("SELECT count(*) FROM pg_replication_origin WHERE roname = $1", [db.config().origin]) == "1")

        let read = try await sink.read(CollectionSpec(name: "people", keyAttributes: ["id"]), keys: [["id": .int(8)], ["id": .int(99)], ["id": .int(1)]])
        #expect(read.count == 3)
        #expect(read[0]?["prefs"] == .object(["k": .array([.int(1)])]))
        #expect(read[0]?["seen"] == .timestamp(1_700_000_000_123_456))
        #expect(read[1] == nil)
        #expect(read[2]?["name"] == .string("p1"))
    }

    @Test func replacesOfVaryingShapesWriteEachValueToItsOwnColumn() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec(Self.schema)
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "people", keyAttributes: ["id"])])
        // Documents with random subsets of the columns, so that consecutive documents list their
        // names in different orders; every 25th also holds an attribute the table lacks (null:
        // written without it; a value: refused), and every 10th the generated column (ignored).
        var rng = SplitMix(seed: 7)
        var expected: [Int: [String?]] = [:]
        var patches: [DocumentPatch] = []
        for i in 1...300 {
            var document: [String: Value] = [:]
            var row: [String?] = ["\(i)", "", nil, nil]
            if Bool.random(using: &rng) { document["name"] = .string("n\(i)"); row[1] = "n\(i)" } else { document["name"] = .string(""); }
            if Bool.random(using: &rng) { document["age"] = .int(Int64(i)); row[2] = "\(i)" }
            if Bool.random(using: &rng) { document["code"] = .string("c\(i % 10)"); row[3] = "c\(i % 10)" }
            if Bool.random(using: &rng) { document["seen"] = .null }
            if i % 10 == 0 { document["total"] = .int(-1) }
            if i % 25 == 0 { document["ghost"] = i % 50 == 0 ? .string("boo") : .null }
            patches.append(DocumentPatch(collection: "people", key: ["id": .int(Int64(i))], action: .replace(document)))
            if i % 50 != 0 { expected[i] = row }
        }
        let results = try await sink.apply(patches)
        for (n, result) in results.enumerated() {
            let i = n + 1
            if i % 50 == 0 {
                guard case let .rejected(reason) = result else { Issue.record("\(i) should be refused"); continue }
                #expect(reason.contains("no column 'ghost'"))
            } else {
                #expect(result == .applied, "\(i)")
            }
        }
        let rows = try db.rows("SELECT id, name, age::text, code FROM people ORDER BY id")
        #expect(rows.count == expected.count)
        for row in rows { #expect(row == expected[Int(row[0]!)!], "row \(row[0]!)") }
        #expect(try db.scalar("SELECT count(*) FROM people WHERE total IS DISTINCT FROM age * 2") == "0")
    }

    @Test func conditionalWritesApplyOnlyWhenTheGuardHolds() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec(Self.schema)
        try db.exec("INSERT INTO people (id, name, age, prefs) VALUES (1, 'a', 30, '{\"x\": 1}'), (2, 'b', 40, NULL), (3, 'c', 1, NULL)")
        let sink = PostgresSink(config: db.config())
        func upsert(_ id: Int64, _ set: [String: Value], expected: [String: Value?]) -> DocumentPatch {
            DocumentPatch(collection: "people", key: ["id": .int(id)], action: .upsert(set: set, unset: []), expected: expected)
        }
        let results = try await sink.apply([
            upsert(1, ["age": .int(31)], expected: ["age": .int(30), "prefs": .object(["x": .int(1)])]),  // holds (jsonb compared as jsonb)
            upsert(2, ["age": .int(41)], expected: ["age": .int(39)]),                                      // stale
            upsert(3, ["name": .string("c2")], expected: ["prefs": nil]),                                   // NULL holds
            DocumentPatch(collection: "people", key: ["id": .int(4)], action: .replace(["name": .string("new")]), expected: ["id": nil]),  // missing: create
            DocumentPatch(collection: "people", key: ["id": .int(1)], action: .replace(["name": .string("dup")]), expected: ["id": nil]),  // exists: guard fails
            DocumentPatch(collection: "people", key: ["id": .int(3)], action: .delete, expected: ["name": .string("zzz")]),             // stale
            DocumentPatch(collection: "people", key: ["id": .int(2)], action: .delete, expected: ["name": .string("b"), "age": .int(40)]),
            DocumentPatch(collection: "people", key: ["id": .int(5)], action: .delete, expected: ["name": nil]),                        // already gone
            upsert(3, ["age": .int(-5)], expected: ["age": .int(1)]),                                       // check violation
        ])
        // Two patches of one document in a batch do not happen in the engine; here 1 and 3 repeat on purpose.
        #expect(results[0] == .applied)
        #expect(results[1] == .guardFailed)
        #expect(results[2] == .applied)
        #expect(results[3] == .applied)
        #expect(results[4] == .guardFailed)
        #expect(results[5] == .guardFailed)
        #expect(results[6] == .applied)
        #expect(results[7] == .applied)
        if case .rejected = results[8] {} else { Issue.record("a check violation is a rejection, got \(results[8])") }
        let rows = try db.rows("SELECT id, name, age FROM people ORDER BY id")
        #expect(rows == [["1", "a", "31"], ["3", "c2", "1"], ["4", "new", nil]])
    }

    @Test func missingTableIsPermanentAndUnreachableServerTransient() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        let sink = PostgresSink(config: db.config())
        do {
            _ = try await sink.apply([DocumentPatch(collection: "nope", key: ["id": .int(1)], action: .delete)])
            Issue.record("expected an error")
        } catch let error as ConnectorError {
            #expect(error.kind == .permanent)
            #expect(error.message.contains("nope does not exist"))
        }
        let down = PostgresSink(config: PostgresStoreConfig(store: "down", url: "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2"))
        do {
            _ = try await down.apply([DocumentPatch(collection: "t", key: ["id": .int(1)], action: .delete)])
            Issue.record("expected an error")
        } catch let error as ConnectorError {
            #expect(error.kind == .transient)
        }
    }

    @Test func addedColumnsAreFoundAndUserOptionsKept() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE SCHEMA sales; CREATE TABLE sales.orders (no int PRIMARY KEY, qty int)")
        let url = db.url + "?options=" + "-c search_path=sales".replacingOccurrences(of: " ", with: "%20").replacingOccurrences(of: "=", with: "%3D")
        let conn = try PGConnection.connect(url: url, replication: false, store: "t")
        defer { conn.close() }
        #expect(try conn.exec("SHOW search_path").value(0, 0) == "sales")
        #expect(try conn.exec("SHOW TimeZone").value(0, 0) == "UTC")
        #expect(try conn.exec("SHOW application_name").value(0, 0) == "deltabridge")

        let sink = PostgresSink(config: PostgresStoreConfig(store: StoreID(db.store()), url: url, schema: "sales"))
        let spec = CollectionSpec(name: "orders", keyAttributes: ["no"])
        try await sink.prepare(collections: [spec])
        #expect(try await sink.apply([DocumentPatch(collection: "orders", key: ["no": .int(1)], action: .upsert(set: ["qty": .int(2)], unset: []))]) == [.applied])
        try db.exec("ALTER TABLE sales.orders ADD COLUMN note text")
        let results = try await sink.apply([DocumentPatch(collection: "orders", key: ["no": .int(1)], action: .upsert(set: ["note": .string("n")], unset: [])),
                                            DocumentPatch(collection: "orders", key: ["no": .int(2)], action: .upsert(set: ["ghost": .string("n")], unset: []))])
        #expect(results[0] == .applied)
        if case .rejected = results[1] {} else { Issue.record("an unknown column is a rejection") }
        #expect(try db.rows("SELECT no, qty, note FROM sales.orders") == [["1", "2", "n"]])
    }

    @Test func factoryChecksSettings() throws {
        let factory = PostgresConnectorFactory()
        func settings(_ values: [String: String]) -> StoreSettings {
            StoreSettings(name: "app-db", type: "postgres", values: values, baseDirectory: "/tmp", location: "p.yaml:3")
        }
        #expect(throws: ConnectorError.self) { try factory.config(settings([:])) }
        #expect(throws: ConnectorError.self) { try factory.config(settings(["url": "postgresql://x/y", "slot": "Bad-Name"])) }
        #expect(throws: ConnectorError.self) { try factory.config(settings(["url": "host=x port"])) }
        let c = try factory.config(settings(["url": "postgresql://bridge@db/app"]))
        #expect(c.slot == "deltabridge_app_db")
        #expect(c.publication == "deltabridge_app_db")
        #expect(c.origin == "deltabridge_app_db")
        #expect(c.schema == "public")
        #expect(c.table("sales.orders") == PostgresTableName(schema: "sales", name: "orders"))
        #expect(factory.settingKeys.isSuperset(of: ["url", "slot", "publication", "schema"]))
        var sized = settings(["url": "postgresql://bridge@db/app"])
        sized.batchSize = 250
        #expect(try #require(try factory.makeSource(sized) as? PostgresSource).batchLimit == 250)
    }
}
