import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import CouchDBConnector

/// The CouchDB source against a real server (DELTABRIDGE_COUCHDB_URL): snapshot, hand-off to the
/// `_changes` feed, value decoding, deletes, design documents, echoes, the open feed.
@Suite struct CouchDBSourceTests {
    static let rich: [String: Value] = [
        "name": .string("Zoë ✓ 😀 \"quoted\""),
        "count": .int(9_007_199_254_740_993),
        "price": .double(19.99),
        "big": .decimal(ExactDecimal("123456789012345678901234567890")!),
        "active": .bool(true),
        "nothing": .null,
        "nested": .object(["list": .array([.int(1), .double(2.5), .string("é"), .null, .bool(false)]), "deep": .object(["k": .string("v")])]),
    ]

    @Test func snapshotThenFeedDeliversEveryValueExactly() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try db.put("a", Self.rich)
        try db.put("b", ["x": .int(1)])
        try db.put("_design/views", ["language": .string("javascript")])
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [db.spec])
        let rows = try await readSnapshot(reader, db.spec, limit: 1)
        await reader.close()
        #expect(rows.count == 2, "the design document is skipped")
        var expected = Self.rich
        expected["_id"] = .string("a")
        #expect(rows.first { $0.attributes["_id"] == .string("a") }?.attributes == expected)
        #expect(rows.allSatisfy { $0.commitTime != nil && !$0.isEcho && $0.image == .full })

        // Written after the snapshot's position: delivered by the feed, not lost.
        try db.put("c", ["y": .string("after")])
        try db.put("b", ["x": .int(2)])
        try db.delete("a")
        let (changes, position) = try await drainCouchChanges(source, [db.spec], after: reader.position)
        let byID = Dictionary(changes.map { ($0.attributes["_id"]!, $0) }, uniquingKeysWith: { $1 })
        #expect(byID[.string("c")]?.attributes == ["_id": .string("c"), "y": .string("after")])
        #expect(byID[.string("b")]?.attributes == ["_id": .string("b"), "x": .int(2)])
        #expect(byID[.string("a")]?.operation == .delete)
        #expect(byID[.string("a")]?.attributes == ["_id": .string("a")])
        #expect(byID[.string("_design/views")] == nil)

        // Resuming from the last position delivers nothing more; a re-create arrives as an upsert.
        #expect(try await drainCouchChanges(source, [db.spec], after: position).changes.isEmpty)
        try db.put("a", ["again": .bool(true)])
        let after = try await drainCouchChanges(source, [db.spec], after: position).changes
        #expect(after.map(\.operation) == [.upsert])
        #expect(after.first?.attributes == ["_id": .string("a"), "again": .bool(true)])
    }

    @Test func aKeyOtherThanIdIsReadFromTheBodyAndFromTheIdOfDeletes() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try db.put("7", ["id": .int(7), "name": .string("seven")])
        let spec = CollectionSpec(name: db.name, keyAttributes: ["id"])
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        let rows = try await readSnapshot(reader, spec, limit: 10)
        #expect(rows.map(\.attributes) == [["id": .int(7), "name": .string("seven")]])
        try db.delete("7")
        let changes = try await drainCouchChanges(source, [spec], after: reader.position).changes
        #expect(changes.map(\.operation) == [.delete])
        #expect(changes.first?.attributes == ["id": .int(7)])
    }

    @Test func revisionsTheSinkWroteComeBackAsEchoes() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [db.spec])
        let sink = CouchDBSink(config: try db.config())
        try await sink.prepare(collections: [db.spec])
        let results = try await sink.apply([DocumentPatch(collection: db.name, key: ["_id": .string("e")], action: .replace(["v": .int(1)]))])
        #expect(results == [.applied])
        try db.put("u", ["v": .int(2)])
        let changes = try await drainCouchChanges(source, [db.spec], after: reader.position).changes
        #expect(changes.first { $0.attributes["_id"] == .string("e") }?.isEcho == true)
        #expect(changes.first { $0.attributes["_id"] == .string("u") }?.isEcho == false)
        // An application's edit on top of the bridge's write is not an echo.
        try db.put("e", ["v": .int(3)])
        let later = try await drainCouchChanges(source, [db.spec], after: reader.position).changes
        #expect(later.first { $0.attributes["_id"] == .string("e") }?.isEcho == false)
    }

    @Test func theOpenFeedDeliversWritesThatArriveWhileItWaits() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [db.spec])
        let start = reader.position
        let spec = db.spec
        let writer = Task {
            for n in 0..<20 {
                try db.put("w\(n)", ["n": .int(Int64(n))])
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let ids = try await withCouchTimeout(60, "20 documents through the open feed") {
            var seen = Set<String>()
            for try await batch in source.changes(of: [spec], after: start, follow: true) {
                for c in batch.changes { if case let .string(id)? = c.attributes["_id"] { seen.insert(id) } }
                if seen.count >= 20 { break }
            }
            return seen
        }
        try await writer.value
        #expect(ids == Set((0..<20).map { "w\($0)" }))
    }

    @Test func lagCountsPendingChangesAfterThePosition() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [db.spec])
        for n in 0..<5 { try db.put("l\(n)", ["n": .int(Int64(n))]) }
        let lag = try await source.lag(of: [db.spec], after: reader.position)
        #expect(lag.eventsBehind == 5)
        #expect(lag.head.hasPrefix("5-") || !lag.head.isEmpty)
        let end = try await drainCouchChanges(source, [db.spec], after: reader.position).position
        #expect(try await source.lag(of: [db.spec], after: end).eventsBehind == 0)
    }

    @Test func aPositionThatIsNotCouchDBsIsLostWithTheResyncAdvice() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let source = CouchDBSource(config: try db.config())
        await #expect {
            for try await _ in source.changes(of: [db.spec], after: "0/16B3748", follow: false) {}
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .positionLost && e.message.contains("deltabridge resync")
        }
    }
}
