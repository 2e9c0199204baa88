import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Testing
@testable import MongoDBConnector

/// The source against a real MongoDB-wire server (DELTABRIDGE_MONGO_URL).
@Suite struct MongoSourceTests {
    let spec = CollectionSpec(name: "people", keyAttributes: ["_id"])

    @Test func snapshotThenStreamWithNoGap() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        try db.insert("people", (1...25).map { BSONDocument(["_id": .int32(Int32($0)), "name": .string("p\($0)")]) })
        let source = MongoSource(config: db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        // Written after the snapshot's start time: must come through the stream.
        try db.insert("people", [BSONDocument(["_id": .int32(100), "name": .string("late")])])
        let rows = try await readSnapshot(reader, spec, limit: 7)
        let position = reader.position
        #expect(try await reader.estimatedCount(spec) == 26)
        await reader.close()
        #expect(rows.count >= 25)
        #expect(Set(rows.compactMap { $0.attributes["_id"] }).isSuperset(of: Set((1...25).map { Value.int(Int64($0)) })))
        #expect(rows.allSatisfy { $0.commitTime != nil && $0.matchEchoes })
        #expect(position.hasPrefix("rt:"), "the hand-off resumes after the stream's token, taken before the read")

        try db.update("people", .int32(3), BSONDocument(["$set": .document(BSONDocument(["name": .string("three")])), "$unset": .document(BSONDocument(["gone": .string("")]))]))
        try db.delete("people", .int32(4))
        let (changes, end) = try await drainMongo(source, [spec], after: position)
        let late = changes.first { $0.attributes["_id"] == .int(100) }
        #expect(late?.attributes["name"] == .string("late"))
        let update = changes.first { $0.attributes["_id"] == .int(3) }
        #expect(update?.image == .partial)
        #expect(update?.attributes["name"] == .string("three"))
        let delete = changes.first { $0.attributes["_id"] == .int(4) }
        #expect(delete?.operation == .delete)
        #expect(end.hasPrefix("rt:"))
        // Servers without post-batch tokens hand off at the noted cluster time: the same changes.
        let atTime = try #require(MongoPosition(position)).time
        let (same, _) = try await drainMongo(source, [spec], after: MongoPosition.operationTime(atTime).description)
        #expect(same.map { $0.attributes["_id"] } == changes.map { $0.attributes["_id"] })

        // Resuming from the end position delivers only what came after.
        try db.insert("people", [BSONDocument(["_id": .int32(200)])])
        let (more, _) = try await drainMongo(source, [spec], after: end)
        #expect(more.map { $0.attributes["_id"] } == [.int(200)])
    }

    @Test func removedFieldsAndPartialUpdates() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let source = MongoSource(config: db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        let start = reader.position
        await reader.close()
        try db.insert("people", [BSONDocument(["_id": .string("a"), "x": .int32(1), "y": .int32(2), "sub": .document(BSONDocument(["k": .int32(1), "l": .int32(2)]))])])
        try db.update("people", .string("a"), BSONDocument(["$set": .document(BSONDocument(["x": .int32(5), "sub.k": .int32(9)])), "$unset": .document(BSONDocument(["y": .string("")]))]))
        let (changes, _) = try await drainMongo(source, [spec], after: start)
        #expect(changes.count == 2)
        let update = try #require(changes.last)
        #expect(update.image == .partial)
        #expect(update.attributes["x"] == .int(5))
        #expect(update.attributes["sub"] == .object(["k": .int(9), "l": .int(2)]))
        #expect(update.removed == ["y"])
        #expect(update.attributes["y"] == nil)
    }

    @Test func nestedPathsModeStreamsDottedAttributes() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let source = MongoSource(config: db.config(nesting: .paths))
        try db.insert("people", [BSONDocument(["_id": .int32(1), "sub": .document(BSONDocument(["k": .int32(1), "l": .int32(2)]))])])
        let reader = try await source.beginSnapshot(of: [spec])
        let rows = try await readSnapshot(reader, spec, limit: 10)
        let start = reader.position
        await reader.close()
        #expect(rows.first?.attributes == ["_id": .int(1), "sub.k": .int(1), "sub.l": .int(2)])
        try db.update("people", .int32(1), BSONDocument(["$set": .document(BSONDocument(["sub.k": .int32(7)]))]))
        let (changes, _) = try await drainMongo(source, [spec], after: start)
        let update = try #require(changes.last)
        #expect(update.image == .partial)
        #expect(update.attributes == ["_id": .int(1), "sub.k": .int(7)])
    }

    @Test func droppedCollectionInvalidatesAndTheStreamGoesOn() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let warnings = MongoWarningLog()
        let source = MongoSource(config: db.config(warn: warnings.handler))
        try db.insert("people", [BSONDocument(["_id": .int32(1)])])
        let reader = try await source.beginSnapshot(of: [spec])
        let start = reader.position
        await reader.close()
        try db.insert("people", [BSONDocument(["_id": .int32(2)])])
        try db.command([("drop", .string("people"))])
        try db.insert("people", [BSONDocument(["_id": .int32(3)])])
        let (changes, end) = try await drainMongo(source, [spec], after: start)
        #expect(changes.compactMap { $0.attributes["_id"] }.contains(.int(2)))
        #expect(changes.compactMap { $0.attributes["_id"] }.contains(.int(3)), "the stream reopened after the invalidate")
        #expect(warnings.all.contains { $0.contains("invalidated") })
        #expect(!end.isEmpty)
    }

    @Test func aPositionOutsideTheOplogIsLost() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let source = MongoSource(config: db.config())
        let stale = MongoPosition.resumeAfter(MongoClusterTime(seconds: 1, increment: 1),
                                              token: BSONDocument(["_data": .string("826000000000000001")])).description
        await #expect {
            _ = try await drainMongo(source, [spec], after: stale)
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .positionLost && e.message.contains("resync")
        }
        await #expect {
            _ = try await drainMongo(source, [spec], after: "0/16B3748")
        } throws: { error in
            (error as? ConnectorError)?.kind == .positionLost && "\(error)".contains("resync")
        }
    }

    @Test func lagCountsEventsAndValidatePasses() async throws {
        let db = try MongoTestDatabase()
        defer { db.drop() }
        let source = MongoSource(config: db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        let start = reader.position
        await reader.close()
        try db.insert("people", (1...5).map { BSONDocument(["_id": .int32(Int32($0))]) })
        let lag = try await source.lag(of: [spec], after: start)
        #expect(lag.head.hasPrefix("ts:"))
        #expect(lag.eventsBehind == 5)
        let (_, end) = try await drainMongo(source, [spec], after: start)
        let after = try await source.lag(of: [spec], after: end)
        #expect(after.eventsBehind == 0)
        let problems = try await source.validate(collections: [spec], asSource: true, asSink: true)
        #expect(problems.isEmpty, "\(problems)")
        let keyed = try await source.validate(collections: [CollectionSpec(name: "people", keyAttributes: ["id"])], asSource: true, asSink: false)
        #expect(keyed.contains { $0.problem.contains("_id") })
    }

    @Test func anUnreachableServerIsAClearError() async throws {
        let config = MongoStoreConfig(store: "down", url: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500", database: "x")
        let source = MongoSource(config: config)
        let problems = try await source.validate(collections: [spec], asSource: true, asSink: false)
        #expect(problems.count == 1)
        #expect(problems.first?.problem.contains("cannot reach the server") == true, "\(problems)")
        await #expect {
            _ = try await source.beginSnapshot(of: [spec])
        } throws: { error in
            "\(error)".contains("cannot reach the server") && !"\(error)".contains("\n")
        }
    }
}
