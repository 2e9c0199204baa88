import DeltaConnector
import DeltaCore
import Foundation
import SQLiteSupport
import Testing
@testable import SQLiteConnector

private let items = CollectionSpec(name: "items", keyAttributes: ["id"])
private let itemsSchema = "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL);"

private func upsert(in table: String = "items", _ id: Int64, _ set: [String: Value], unset: [String] = [], expected: [String: Value?]? = nil) -> DocumentPatch {
    DocumentPatch(collection: table, key: ["id": .int(id)], action: .upsert(set: set, unset: unset), expected: expected)
}

@Suite struct SQLiteSinkTests {
    @Test func everyTypeRoundTripsThroughSinkReadSnapshotAndStream() async throws {
        let db = try TestDatabase("CREATE TABLE things(id INTEGER PRIMARY KEY, i, d, s, b, n, j TEXT, flag, ts, dec);")
        let spec = CollectionSpec(name: "things", keyAttributes: ["id"], jsonAttributes: ["j"])
        let source = db.source()
        try await source.installChangeLog(for: [spec])
        let sink = db.sink()
        try await sink.prepare(collections: [spec])

        let nested: Value = .object([
            "name": .string("ünïcødé 🌍 \"q\" \\ \n"),
            "list": .array([.int(1), .double(2.5), .bool(false), .null, .object(["deep": .array([.int(Int64.max)])])]),
            "huge": .decimal(ExactDecimal("123456789012345678901234567890")!),
            "tiny": .double(.leastNonzeroMagnitude),
        ])
        let documents: [[String: Value]] = [
            ["id": .int(1), "i": .int(Int64.max), "d": .double(0.1 + 0.2), "s": .string("héllo wörld ✓ 🌍 中文"), "b": .bytes([0, 1, 2, 255, 0]),
             "n": .null, "j": nested],
            ["id": .int(2), "i": .int(Int64.min), "d": .double(1e308), "s": .string(""), "b": .bytes([]), "j": .array([.int(-1), .string("x"), .array([])])],
            ["id": .int(3), "i": .int(0), "d": .double(-0.0), "s": .string("'single' \"double\" \\ \t\r\n"), "j": .string("plain text")],
            ["id": .int(4), "d": .double(1.7976931348623157e308), "j": .bool(true)],
            ["id": .int(5), "d": .double(.infinity), "j": .int(5)],
            ["id": .int(6), "d": .double(-.infinity), "j": .double(0.1)],
            ["id": .int(7), "d": .double(2.2250738585072014e-308), "j": .null],
            ["id": .int(8), "d": .double(-123456.78901234567), "flag": .bool(true), "ts": .timestamp(1_700_000_000_123_456),
             "dec": .decimal(ExactDecimal("10.50")!)],
        ]
        let results = try await sink.apply(documents.map { DocumentPatch(collection: "things", key: ["id": $0["id"]!], action: .replace($0)) })
        #expect(results == Array(repeating: .applied, count: documents.count))

        // What reading gives back: every column, NULL for the unset ones; bools, timestamps and
        // decimals in their SQLite form.
        let columns = ["id", "i", "d", "s", "b", "n", "j", "flag", "ts", "dec"]
        let expected: [[String: Value]] = documents.map { doc in
            var row: [String: Value] = [:]
            for c in columns { row[c] = doc[c] ?? .null }
            if row["flag"] == .bool(true) { row["flag"] = .int(1) }
            if case .timestamp = row["ts"]! { row["ts"] = .string("2023-11-14T22:13:20.123456Z") }
            if case .decimal = row["dec"]! { row["dec"] = .string("10.5") }
            return row
        }

        let read = try await sink.read(spec, keys: documents.map { ["id": $0["id"]!] } + [["id": .int(99)]])
        #expect(read.count == documents.count + 1)
        #expect(read.last! == nil)
        for (got, want) in zip(read, expected) {
            #expect(identical(got, want), "read \(String(describing: got)) != \(want)")
        }

        let reader = try await source.beginSnapshot(of: [spec])
        let (rows, _) = try await snapshotRows(reader, spec, limit: 3)
        await reader.close()
        #expect(rows.count == expected.count)
        for (got, want) in zip(rows, expected) {
            #expect(identical(got.attributes, want), "snapshot \(got.attributes) != \(want)")
        }

        // The change log's images: exact too, except that SQLite prints -0.0 as 0.0 (equal as Values).
        let (changes, _) = flatten(try await drain(source, [spec], after: "0"))
        #expect(changes.count == expected.count)
        for (got, want) in zip(changes, expected) {
            if want["d"] == .double(0) {
                #expect(got.attributes == want)
            } else {
                #expect(identical(got.attributes, want), "image \(got.attributes) != \(want)")
            }
            #expect(got.isEcho)
        }
    }

    @Test func userWrittenRealsAndIntegersSurviveTheChangeLogBitForBit() async throws {
        let db = try TestDatabase("CREATE TABLE nums(id INTEGER PRIMARY KEY, r REAL, x);")
        let spec = CollectionSpec(name: "nums", keyAttributes: ["id"])
        let source = db.source()
        try await source.installChangeLog(for: [spec])
        var rng = SystemRandomNumberGenerator()
        var doubles: [Double] = [0.1 + 0.2, 1e308, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .leastNormalMagnitude, 1 / 3, 4.35, 9007199254740991]
        while doubles.count < 2_000 {
            let d = Double(bitPattern: rng.next())
            if d.isFinite && d != 0 { doubles.append(d) }
        }
        try db.exec("BEGIN")
        for (i, d) in doubles.enumerated() {
            try db.run("INSERT INTO nums VALUES (?, ?, ?)", [.int(Int64(i)), .double(d), .int(Int64(bitPattern: rng.next()))])
        }
        try db.exec("COMMIT")
        let (changes, _) = flatten(try await drain(source, [spec], after: "0"))
        #expect(changes.count == doubles.count)
        var mismatches: [String] = []
        for (change, d) in zip(changes, doubles) {
            guard case let .double(got)? = change.attributes["r"], got.bitPattern == d.bitPattern else {
                mismatches.append("\(d) → \(String(describing: change.attributes["r"]))")
                continue
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        let stored = try db.user.prepare("SELECT x FROM nums ORDER BY id")
        for change in changes {
            _ = try stored.step()
            #expect(change.attributes["x"] == .int(stored.int64(0)))
        }
    }

    @Test func sinkWritesAreEchoesAndUserWritesAreNot() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        let sink = db.sink()
        #expect(try await sink.apply([upsert(1, ["name": .string("from bridge")])]) == [.applied])
        try db.exec("INSERT INTO items(id, name) VALUES (2, 'from user')")
        #expect(try await sink.apply([DocumentPatch(collection: "items", key: ["id": .int(2)], action: .delete), upsert(3, ["qty": .int(1)])]) == [.applied, .applied])
        try db.exec("UPDATE items SET qty = 2 WHERE id = 3")

        let (changes, _) = flatten(try await drain(source, [items], after: "0"))
        #expect(changes.map(\.isEcho) == [true, false, true, true, false])
        #expect(changes.map(\.operation) == [.upsert, .upsert, .delete, .upsert, .upsert])
        #expect(changes[0].attributes["name"] == .string("from bridge"))
        #expect(changes[4].attributes["qty"] == .int(2))
    }

    @Test func aTargetWithoutChangeLogIsWrittenPlainly() async throws {
        let db = try TestDatabase(itemsSchema)
        let sink = db.sink()
        #expect(try await sink.apply([upsert(1, ["name": .string("x")])]) == [.applied])
        #expect(try db.user.scalarInt("SELECT count(*) FROM sqlite_master WHERE name LIKE '_deltabridge%'") == 0)
        #expect(try await sink.read(items, keys: [["id": .int(1)]]) == [["id": .int(1), "name": .string("x"), "qty": .null, "price": .null]])
    }

    @Test func upsertSetsOnlyItsColumnsAndReplaceClearsTheRest() async throws {
        let db = try TestDatabase(itemsSchema)
        let sink = db.sink()
        try db.exec("INSERT INTO items VALUES (1, 'a', 5, 1.5)")
        #expect(try await sink.apply([upsert(1, ["qty": .int(6)], unset: ["price"]), upsert(2, ["name": .string("new")])]) == [.applied, .applied])
        #expect(try await sink.read(items, keys: [["id": .int(1)], ["id": .int(2)]]) == [
            ["id": .int(1), "name": .string("a"), "qty": .int(6), "price": .null],
            ["id": .int(2), "name": .string("new"), "qty": .null, "price": .null],
        ])
        #expect(try await sink.apply([DocumentPatch(collection: "items", key: ["id": .int(1)], action: .replace(["id": .int(1), "price": .double(2)]))]) == [.applied])
        #expect(try await sink.read(items, keys: [["id": .int(1)]]) == [["id": .int(1), "name": .null, "qty": .null, "price": .double(2)]])
        // A key-only upsert creates the row, and leaves an existing one alone.
        #expect(try await sink.apply([upsert(3, [:]), upsert(1, [:])]) == [.applied, .applied])
        #expect(try db.user.scalarInt("SELECT count(*) FROM items") == 3)
    }

    @Test func conditionalWritesApplyOnlyWhenTheGuardHolds() async throws {
        let db = try TestDatabase("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, meta TEXT);")
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"], jsonAttributes: ["meta"])
        let sink = db.sink()
        try await sink.prepare(collections: [spec])
        try db.exec(#"INSERT INTO items VALUES (1, 'a', 5, NULL, '{ "b": [1, 2], "a": true }')"#)

        // Holds: values match (NULL price also matches nil; JSON compares as values, not text).
        let ok = upsert(1, ["name": .string("b")], expected: ["name": .string("a"), "qty": .int(5), "price": nil,
                                                             "meta": .object(["a": .bool(true), "b": .array([.int(1), .int(2)])])])
        // Fails: the row no longer holds 'a'.
        let stale = upsert(1, ["name": .string("c"), "qty": .int(0)], expected: ["name": .string("a")])
        // Missing row counts as all nil: holds for all-nil guards, fails otherwise.
        let create = upsert(2, ["name": .string("created")], expected: ["name": nil, "qty": nil])
        let missing = upsert(3, ["name": .string("never")], expected: ["name": .string("x")])
        // An absent column counts as NULL.
        let absentColumn = upsert(1, ["qty": .int(9)], expected: ["no_such_column": nil])
        let results = try await sink.apply([ok, stale, create, missing, absentColumn])
        #expect(results == [.applied, .guardFailed, .applied, .guardFailed, .applied])
        let rows = try await sink.read(spec, keys: [["id": .int(1)], ["id": .int(2)], ["id": .int(3)]])
        #expect(rows[0]?["name"] == .string("b"))
        #expect(rows[0]?["qty"] == .int(9))
        #expect(rows[1]?["name"] == .string("created"))
        #expect(rows[2] == nil)

        // A guarded delete: fails on a stale guard (row untouched), applies on a current one.
        let staleDelete = DocumentPatch(collection: "items", key: ["id": .int(2)], action: .delete, expected: ["name": .string("old")])
        #expect(try await sink.apply([staleDelete]) == [.guardFailed])
        #expect(try await sink.read(spec, keys: [["id": .int(2)]])[0] != nil)
        let delete = DocumentPatch(collection: "items", key: ["id": .int(2)], action: .delete, expected: ["name": .string("created")])
        #expect(try await sink.apply([delete]) == [.applied])
        #expect(try await sink.read(spec, keys: [["id": .int(2)]])[0] == nil)
    }

    @Test func aRejectedPatchDoesNotAffectTheOthersInItsBatch() async throws {
        let db = try TestDatabase("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, CHECK (length(name) < 10));")
        let source = db.source()
        try await source.installChangeLog(for: [items])
        let sink = db.sink()
        let results = try await sink.apply([
            upsert(1, ["name": .string("one")]),
            upsert(2, ["score": .double(1)]),                                   // NOT NULL name
            upsert(3, ["name": .string("three")]),
            upsert(4, ["name": .string("four"), "score": .double(.nan)]),       // NaN cannot be stored
            upsert(5, ["name": .string("five"), "colour": .string("red")]),     // no such column
            upsert(6, ["name": .string("far too long a name")]),                // CHECK constraint
            DocumentPatch(collection: "items", key: ["id": .null], action: .upsert(set: ["name": .string("x")], unset: [])),
            upsert(8, ["name": .string("eight")]),
        ])
        #expect(results.count == 8)
        #expect([results[0], results[2], results[7]] == [.applied, .applied, .applied])
        for i in [1, 3, 4, 5, 6] {
            guard case .rejected = results[i] else { Issue.record("patch \(i) should be rejected: \(results[i])"); continue }
        }
        if case let .rejected(reason) = results[1] { #expect(reason.contains("items") && reason.contains("NOT NULL")) }
        if case let .rejected(reason) = results[3] { #expect(reason.contains("items") && reason.contains("score") && reason.contains("double")) }
        if case let .rejected(reason) = results[4] { #expect(reason.contains("colour")) }
        #expect(try db.user.scalarText("SELECT group_concat(id) FROM (SELECT id FROM items ORDER BY id)") == "1,3,8")
        // Only the applied patches reached the change log.
        let (changes, _) = flatten(try await drain(source, [items], after: "0"))
        #expect(changes.map { $0.attributes["id"] } == [.int(1), .int(3), .int(8)])
        #expect(changes.allSatisfy { $0.isEcho })
    }

    @Test func aRefusalInOneGroupOfPatchesLeavesTheOtherGroupsWhole() async throws {
        let db = try TestDatabase("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL);")
        let sink = db.sink()
        // Patches run in groups of SQLiteSink.State.patchesPerGroup under one savepoint: refuse one
        // patch in the second group and one in the last.
        let count = 1_234
        let refused: Set<Int> = [700, 1_233]
        let patches = (0..<count).map { i in
            refused.contains(i) ? upsert(Int64(i), ["score": .double(1)]) : upsert(Int64(i), ["name": .string("n\(i)")])
        }
        let results = try await sink.apply(patches)
        #expect(results.count == count)
        for (i, r) in results.enumerated() {
            if refused.contains(i) {
                guard case .rejected = r else { Issue.record("patch \(i) should be rejected: \(r)"); continue }
            } else if r != .applied {
                Issue.record("patch \(i) should be applied: \(r)")
            }
        }
        #expect(try db.user.scalarInt("SELECT count(*) FROM items") == Int64(count - refused.count))
        #expect(try db.user.scalarInt("SELECT count(*) FROM items WHERE id IN (700, 1233)") == 0)
    }

    @Test func aLockedDatabaseFailsTheBatchTransiently() async throws {
        let db = try TestDatabase(itemsSchema + "PRAGMA journal_mode=WAL;")
        let sink = SQLiteSink(store: "lite", path: db.path, busyTimeoutMilliseconds: 50)
        try db.exec("BEGIN IMMEDIATE")
        await #expect {
            _ = try await sink.apply([upsert(1, ["name": .string("x")])])
        } throws: { ($0 as? ConnectorError)?.kind == .transient }
        try db.exec("ROLLBACK")
        #expect(try await sink.apply([upsert(1, ["name": .string("x")])]) == [.applied])
    }

    @Test func aMissingTableFailsTheBatchPermanently() async throws {
        let db = try TestDatabase(itemsSchema)
        let sink = db.sink()
        await #expect {
            _ = try await sink.apply([upsert(1, ["name": .string("x")]), upsert(in: "nope", 1, ["x": .int(1)])])
        } throws: { ($0 as? ConnectorError)?.kind == .permanent && "\($0)".contains("nope") }
        #expect(try db.user.scalarInt("SELECT count(*) FROM items") == 0, "the whole batch rolls back")
    }

    @Test func writingByAKeyWithoutUniqueIndexFailsPermanently() async throws {
        let db = try TestDatabase("CREATE TABLE loose(id INTEGER, v TEXT);")
        await #expect {
            _ = try await db.sink().apply([upsert(in: "loose", 1, ["v": .string("x")])])
        } throws: { ($0 as? ConnectorError)?.kind == .permanent && "\($0)".contains("UNIQUE") }
    }

    @Test func validationNamesEachProblemAndItsFix() async throws {
        let db = try TestDatabase("""
            CREATE TABLE good(id INTEGER PRIMARY KEY, doc TEXT);
            CREATE TABLE pairs(a TEXT, b INTEGER, UNIQUE (b, a));
            CREATE TABLE loose(id INTEGER, v TEXT);
            CREATE VIEW seen AS SELECT * FROM good;
            """)
        let specs = [
            CollectionSpec(name: "good", keyAttributes: ["id"], jsonAttributes: ["doc"]),
            CollectionSpec(name: "pairs", keyAttributes: ["a", "b"]),
            CollectionSpec(name: "loose", keyAttributes: ["id"]),
            CollectionSpec(name: "missing", keyAttributes: ["id"]),
            CollectionSpec(name: "good2", keyAttributes: ["id"]),
            CollectionSpec(name: "seen", keyAttributes: ["id"]),
        ]
        try db.exec("CREATE TABLE good2(ID INTEGER PRIMARY KEY)")
        let problems = try await db.source().validate(collections: specs, asSource: true, asSink: true)
        let text = problems.map(\.description)
        #expect(problems.count == 4, "\(text)")
        #expect(text.contains { $0.contains("'loose'") && $0.contains("UNIQUE") && $0.contains("CREATE UNIQUE INDEX") })
        #expect(text.contains { $0.contains("'missing' does not exist") && $0.contains("fix:") })
        #expect(text.contains { $0.contains("'good2'") && $0.contains("no key column 'id'") && $0.contains("'ID'") })
        #expect(text.contains { $0.contains("'seen'") && $0.contains("view") })
        #expect(try await db.sink().validate(collections: Array(specs.prefix(2)), asSource: false, asSink: true).isEmpty)

        let dir = try TemporaryDirectory()
        let absent = dir.file("nothing.sqlite")
        let missingFile = try await SQLiteSink(store: "lite", path: absent).validate(collections: specs, asSource: false, asSink: true)
        #expect(missingFile.count == 1)
        #expect(missingFile.first?.problem.contains("\(absent)' does not exist") == true)
        #expect(missingFile.first?.fix.contains("path") == true)
        #expect(!FileManager.default.fileExists(atPath: absent), "validation must not create the file")

        let notADatabase = dir.file("text.sqlite")
        try "hello, I am not a database, just some text that is long enough".write(toFile: notADatabase, atomically: true, encoding: .utf8)
        let garbage = try await SQLiteSource(store: "lite", path: notADatabase).validate(collections: specs, asSource: true, asSink: false)
        #expect(garbage.count == 1 && garbage[0].problem.contains("cannot read"))
    }
}
