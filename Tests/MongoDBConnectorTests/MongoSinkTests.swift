import DeltaConnector
import DeltaCore
import Testing
@testable import MongoDBConnector

/// The sink against a real MongoDB-wire server (DELTABRIDGE_MONGO_URL).
@Suite struct MongoSinkTests {
    let spec = CollectionSpec(name: "docs", keyAttributes: ["_id"])

    @Test func unconditionalUpsertsPartialUpdatesAndDeletes() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let sink = MongoSink(config: db.config())
        try await sink.prepare(collections: [spec])
        let oid = "$oid:65a1b2c3d4e5f60718293a4b"
        var results = try await sink.apply([
            DocumentPatch(collection: "docs", key: ["_id": .int(1)], action: .replace(["_id": .int(1), "a": .int(1), "b": .string("x")])),
            DocumentPatch(collection: "docs", key: ["_id": .string(oid)], action: .upsert(set: ["a": .int(2)], unset: [])),
            DocumentPatch(collection: "docs", key: ["_id": .int(3)], action: .replace(["_id": .int(3), "gone": .bool(true)])),
        ])
        #expect(results == [.applied, .applied, .applied])
        #expect(try db.document("docs", .objectId(MongoValueMapping.objectId(oid)!))?["a"] == .int32(2))
        results = try await sink.apply([
            DocumentPatch(collection: "docs", key: ["_id": .int(1)], action: .upsert(set: ["a": .int(10)], unset: ["b"])),
            DocumentPatch(collection: "docs", key: ["_id": .int(3)], action: .delete),
        ])
        #expect(results == [.applied, .applied])
        let one = try #require(try db.document("docs", .int32(1)))
        #expect(one["a"] == .int32(10))
        #expect(one["b"] == nil)
        #expect(try db.document("docs", .int32(3)) == nil)
        let read = try await sink.read(spec, keys: [["_id": .int(1)], ["_id": .int(99)], ["_id": .string(oid)]])
        #expect(read[0] == ["_id": .int(1), "a": .int(10)])
        #expect(read[1] == nil)
        #expect(read[2]?["a"] == .int(2))
    }

    @Test func guardedWritesFailWhenTheTargetChanged() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let sink = MongoSink(config: db.config())
        try db.insert("docs", [BSONDocument(["_id": .int32(1), "a": .int32(1), "o": .document(BSONDocument(["y": .int32(2), "x": .int32(1)]))])])
        var results = try await sink.apply([
            // The guard holds (object compared by its leaves, whatever their order).
            DocumentPatch(collection: "docs", key: ["_id": .int(1)], action: .upsert(set: ["a": .int(2)], unset: []),
                          expected: ["_id": .int(1), "a": .int(1), "o": .object(["x": .int(1), "y": .int(2)])]),
            // Creating a document that exists already: guard fails.
            DocumentPatch(collection: "docs", key: ["_id": .int(1)], action: .replace(["_id": .int(1), "z": .int(0)]), expected: ["_id": nil]),
            // Creating a missing one works.
            DocumentPatch(collection: "docs", key: ["_id": .int(2)], action: .replace(["_id": .int(2), "z": .int(0)]), expected: ["_id": nil]),
        ])
        #expect(results == [.applied, .guardFailed, .applied])
        results = try await sink.apply([
            DocumentPatch(collection: "docs", key: ["_id": .int(1)], action: .upsert(set: ["a": .int(3)], unset: []), expected: ["_id": .int(1), "a": .int(1)]),
            DocumentPatch(collection: "docs", key: ["_id": .int(2)], action: .delete, expected: ["_id": .int(2), "z": .int(5)]),
            DocumentPatch(collection: "docs", key: ["_id": .int(2)], action: .upsert(set: ["n": .int(1)], unset: []), expected: ["_id": .int(2), "n": nil]),
        ])
        #expect(results == [.guardFailed, .guardFailed, .applied])
        #expect(try db.document("docs", .int32(1))?["a"] == .int32(2))
        #expect(try db.document("docs", .int32(2))?["n"] == .int32(1))
    }

    @Test func aValueMongoCannotHoldRejectsOnlyThatDocument() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let sink = MongoSink(config: db.config())
        let huge = Value.decimal(ExactDecimal("1234567890123456789012345678901234567890")!)
        let results = try await sink.apply([
            DocumentPatch(collection: "docs", key: ["_id": .int(1)], action: .replace(["_id": .int(1), "n": huge])),
            DocumentPatch(collection: "docs", key: ["_id": .int(2)], action: .replace(["_id": .int(2), "n": .int(1)])),
            DocumentPatch(collection: "docs", key: ["_id": .int(3)], action: .upsert(set: ["a\u{0}b": .int(1)], unset: [])),
        ])
        guard case let .rejected(reason) = results[0] else { Issue.record("not rejected: \(results)"); return }
        #expect(reason.contains("Decimal128") && reason.contains("'n'"))
        #expect(results[1] == .applied)
        if case .rejected = results[2] {} else { Issue.record("a field name with NUL was accepted: \(results[2])") }
        #expect(try db.document("docs", .int32(2)) != nil)
        #expect(try db.document("docs", .int32(1)) == nil)
    }

    @Test func aManyDocumentBatchGoesInBulk() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let sink = MongoSink(config: db.config())
        let patches = (0..<2500).map { i in
            DocumentPatch(collection: "docs", key: ["_id": .int(Int64(i))], action: .upsert(set: ["v": .int(Int64(i)), "s": .string("x\(i)")], unset: []))
        }
        let results = try await sink.apply(patches)
        #expect(results.allSatisfy { $0 == .applied })
        #expect(try db.find("docs").count == 2500)
    }

    /// One bulk command of partial updates: documents the target lacks are created, the others
    /// are updated in place and keep the fields the patches do not name.
    @Test func updatesOfMissingDocumentsCreateThemAndKeepTheOthersFields() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        try db.insert("docs", (1...3).map { BSONDocument(["_id": .int32(Int32($0)), "other": .string("keep"), "v": .int32(0)]) })
        let sink = MongoSink(config: db.config())
        try await sink.prepare(collections: [spec])
        let all = try await sink.apply((1...5).map { i in
            DocumentPatch(collection: "docs", key: ["_id": .int(Int64(i))], action: .upsert(set: ["v": .int(7)], unset: []))
        })
        #expect(all == Array(repeating: .applied, count: 5))
        let docs = try db.find("docs")
        #expect(docs.count == 5)
        #expect(docs.allSatisfy { $0["v"] == .int32(7) })
        #expect(docs.filter { $0["other"] == .string("keep") }.count == 3)
        // Every document present: updated in place, none created.
        let again = try await sink.apply((1...5).map { i in
            DocumentPatch(collection: "docs", key: ["_id": .int(Int64(i))], action: .upsert(set: ["v": .int(8)], unset: ["other"]))
        })
        #expect(again == Array(repeating: .applied, count: 5))
        let after = try db.find("docs")
        #expect(after.count == 5 && after.allSatisfy { $0["v"] == .int32(8) && $0["other"] == nil })
    }
}
