import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import MariaDBConnector

/// The sink against the real server: upserts (full, partial, replace), deletes, guarded writes,
/// refused values, reads.
@Suite struct MariaDBSinkTests {
    static func setUp() throws -> (MariaDBTestDatabase, MariaDBSink, CollectionSpec) {
        let db = try MariaDBTestDatabase()
        try db.exec("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(10) CHARACTER SET latin1, score FLOAT, at DATETIME(6), prefs JSON, small TINYINT)")
        return (db, MariaDBSink(config: db.config()), CollectionSpec(name: "people", keyAttributes: ["id"]))
    }

    @Test func upsertsPartialUpdatesReplacesAndDeletes() async throws {
        let (db, sink, spec) = try Self.setUp()
        defer { db.drop() }
        try await sink.prepare(collections: [spec])
        let t = Timestamps.parseISO8601("2024-02-29T13:45:56.123456Z")!
        var results = try await sink.apply([
            DocumentPatch(collection: "people", key: ["id": .int(1)], action: .upsert(set: ["name": .string("Ådå"), "score": .double(3.14159), "at": .timestamp(t), "prefs": .object(["theme": .string("dark")])], unset: [])),
            DocumentPatch(collection: "people", key: ["id": .int(2)], action: .replace(["id": .int(2), "name": .string("Bo")])),
        ])
        #expect(results == [.applied, .applied])
        results = try await sink.apply([
            DocumentPatch(collection: "people", key: ["id": .int(1)], action: .upsert(set: ["small": .int(7)], unset: ["prefs"])),
            DocumentPatch(collection: "people", key: ["id": .int(2)], action: .delete),
        ])
        #expect(results == [.applied, .applied])
        let docs = try await sink.read(spec, keys: [["id": .int(1)], ["id": .int(2)]])
        #expect(docs[1] == nil)
        #expect(docs[0] == ["id": .int(1), "name": .string("Ådå"), "score": .double(3.14159), "at": .timestamp(t), "prefs": .null, "small": .int(7)])
    }

    @Test func refusedValuesAreRejectedAndTheRestApplies() async throws {
        let (db, sink, spec) = try Self.setUp()
        defer { db.drop() }
        try await sink.prepare(collections: [spec])
        let results = try await sink.apply([
            DocumentPatch(collection: "people", key: ["id": .int(1)], action: .upsert(set: ["name": .string("ok")], unset: [])),
            DocumentPatch(collection: "people", key: ["id": .int(2)], action: .upsert(set: ["name": .string("far too long for ten")], unset: [])),
            DocumentPatch(collection: "people", key: ["id": .int(3)], action: .upsert(set: ["name": .string("日本")], unset: [])),
            DocumentPatch(collection: "people", key: ["id": .int(4)], action: .upsert(set: ["name": .string("fine")], unset: [])),
            DocumentPatch(collection: "people", key: ["id": .int(5)], action: .upsert(set: ["score": .double(.nan)], unset: [])),
            DocumentPatch(collection: "people", key: ["id": .int(6)], action: .upsert(set: ["missing": .int(1)], unset: [])),
        ])
        #expect(results[0] == .applied)
        #expect(results[3] == .applied)
        for i in [1, 2, 4, 5] {
            guard case let .rejected(reason) = results[i] else { Issue.record("patch \(i) was not rejected: \(results[i])"); continue }
            #expect(reason.contains("people"), "\(reason)")
        }
        if case let .rejected(reason) = results[1] { #expect(reason.contains("name") || reason.contains("too long"), "\(reason)") }
        #expect(try db.rows("SELECT id FROM people ORDER BY id") == [["1"], ["4"]])
    }

    @Test func guardedWritesApplyOnlyWhileTheRowHoldsTheExpectedValues() async throws {
        let (db, sink, spec) = try Self.setUp()
        defer { db.drop() }
        try await sink.prepare(collections: [spec])
        try db.exec("INSERT INTO people (id, name, score, prefs) VALUES (1, 'Abc', 3.14159, '{\"a\": 1}')")
        // Holds: same values (binary text comparison, FLOAT through CAST, JSON by content).
        var r = try await sink.apply([DocumentPatch(collection: "people", key: ["id": .int(1)], action: .upsert(set: ["small": .int(1)], unset: []),
                                                    expected: ["name": .string("Abc"), "score": .double(3.14159), "prefs": .object(["a": .int(1)])])])
        #expect(r == [.applied])
        // Fails: case differs.
        r = try await sink.apply([DocumentPatch(collection: "people", key: ["id": .int(1)], action: .upsert(set: ["small": .int(2)], unset: []),
                                                expected: ["name": .string("abc")])])
        #expect(r == [.guardFailed])
        // Creating when the row exists fails; when it is missing applies.
        r = try await sink.apply([DocumentPatch(collection: "people", key: ["id": .int(1)], action: .replace(["id": .int(1), "name": .string("x")]), expected: ["name": nil]),
                                  DocumentPatch(collection: "people", key: ["id": .int(2)], action: .replace(["id": .int(2), "name": .string("new")]), expected: ["name": nil])])
        #expect(r == [.guardFailed, .applied])
        // Guarded delete.
        r = try await sink.apply([DocumentPatch(collection: "people", key: ["id": .int(2)], action: .delete, expected: ["name": .string("old")])])
        #expect(r == [.guardFailed])
        r = try await sink.apply([DocumentPatch(collection: "people", key: ["id": .int(2)], action: .delete, expected: ["name": .string("new")])])
        #expect(r == [.applied])
        #expect(try db.rows("SELECT id, small FROM people ORDER BY id") == [["1", "1"]])
    }

    @Test func partialUpdatesReachTablesWithNotNullColumnsWithoutDefault() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE stock (id INT PRIMARY KEY, qty INT NOT NULL, label VARCHAR(10), created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        try db.exec("INSERT INTO stock (id, qty, label) VALUES (1, 5, 'a'), (2, 6, 'b')")
        let sink = MariaDBSink(config: db.config())
        let results = try await sink.apply([
            DocumentPatch(collection: "stock", key: ["id": .int(1)], action: .upsert(set: ["label": .string("changed")], unset: [])),
            DocumentPatch(collection: "stock", key: ["id": .int(2)], action: .upsert(set: ["label": .string("too long a label")], unset: [])),
            DocumentPatch(collection: "stock", key: ["id": .int(3)], action: .upsert(set: ["label": .string("new")], unset: [])),
            DocumentPatch(collection: "stock", key: ["id": .int(4)], action: .upsert(set: ["label": .string("full"), "qty": .int(1)], unset: [])),
            DocumentPatch(collection: "stock", key: ["id": .int(5)], action: .replace(["id": .int(5), "qty": .int(9)])),
        ])
        #expect(results[4] == .applied)
        #expect(try db.rows("SELECT count(*) FROM stock WHERE id = 5 AND created IS NOT NULL AND label IS NULL") == [["1"]])
        #expect(results[0] == .applied)
        #expect(results[3] == .applied)
        guard case let .rejected(tooLong) = results[1], case let .rejected(noQty) = results[2] else {
            Issue.record("expected two rejections: \(results)")
            return
        }
        #expect(tooLong.contains("label"))
        #expect(noQty.contains("qty"), "the server names the column without a value: \(noQty)")
        #expect(try db.rows("SELECT id, qty, label FROM stock ORDER BY id") == [["1", "5", "changed"], ["2", "6", "b"], ["4", "1", "full"], ["5", "9", nil]])
    }

    @Test func aMissingTableOrKeyIsAOneLineErrorWithTheFix() async throws {
        let (db, sink, _) = try Self.setUp()
        defer { db.drop() }
        try db.exec("CREATE TABLE nokey (id INT, v INT)")
        await #expect {
            _ = try await sink.apply([DocumentPatch(collection: "nothere", key: ["id": .int(1)], action: .upsert(set: [:], unset: []))])
        } throws: { error in
            "\(error)".contains("does not exist") && !"\(error)".contains("\n")
        }
        await #expect {
            _ = try await sink.apply([DocumentPatch(collection: "nokey", key: ["id": .int(1)], action: .upsert(set: ["v": .int(1)], unset: []))])
        } throws: { error in
            "\(error)".contains("ADD PRIMARY KEY")
        }
    }
}
