import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import CouchDBConnector

/// The CouchDB sink against a real server: creates, partial updates, replaces, deletes, guards
/// (rule 8), no-op writes, refused values, and `conflict` answers resolved by re-reading.
@Suite struct CouchDBSinkTests {
    func patch(_ db: CouchDBTestDatabase, _ id: String, _ action: DocumentPatch.Action, expected: [String: Value?]? = nil) -> DocumentPatch {
        DocumentPatch(collection: db.name, key: ["_id": .string(id)], action: action, expected: expected)
    }

    @Test func upsertsKeepWhatThePatchDoesNotNameAndDeletesUseTheRev() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let sink = CouchDBSink(config: try db.config())
        try await sink.prepare(collections: [db.spec])
        #expect(try await sink.apply([patch(db, "d", .upsert(set: ["a": .int(1), "b": .string("x"), "n": .null], unset: []))]) == [.applied])
        #expect(try db.content("d") == ["a": .int(1), "b": .string("x"), "n": .null], "null is a value: written as a null member")
        try db.put("d", ["a": .int(1), "b": .string("x"), "app": .bool(true)])
        #expect(try await sink.apply([patch(db, "d", .upsert(set: ["a": .int(2)], unset: ["b"]))]) == [.applied])
        #expect(try db.content("d") == ["a": .int(2), "app": .bool(true)])
        #expect(try await sink.apply([patch(db, "d", .replace(["z": .object(["k": .array([.int(1)])])]))]) == [.applied])
        #expect(try db.content("d") == ["z": .object(["k": .array([.int(1)])])])
        #expect(try await sink.read(db.spec, keys: [["_id": .string("d")], ["_id": .string("missing")]]) ==
                [["_id": .string("d"), "z": .object(["k": .array([.int(1)])])], nil])
        #expect(try await sink.apply([patch(db, "d", .delete), patch(db, "never", .delete)]) == [.applied, .applied])
        #expect(try db.get("d") == nil)
        // Re-created on top of the tombstone.
        #expect(try await sink.apply([patch(db, "d", .replace(["back": .bool(true)]))]) == [.applied])
        #expect(try db.content("d") == ["back": .bool(true)])
    }

    @Test func valuesAreWrittenAsCouchDBHoldsThemAndUnholdableOnesAreRefusedAlone() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let sink = CouchDBSink(config: try db.config())
        try await sink.prepare(collections: [db.spec])
        let results = try await sink.apply([
            patch(db, "ok", .replace(["t": .timestamp(1_709_294_400_123_456), "b": .bytes([0xde, 0xad]), "d": .decimal(ExactDecimal("12.5")!),
                                      "big": .decimal(ExactDecimal("123456789012345678901234567890")!), "u": .string("ü 😀")])),
            patch(db, "precise", .replace(["d": .decimal(ExactDecimal("0.1000000000000000000001")!)])),
            patch(db, "reserved", .replace(["_secret": .int(1)])),
        ])
        #expect(results[0] == .applied)
        guard case let .rejected(reason) = results[1] else { Issue.record("a too precise decimal must be refused"); return }
        #expect(reason.contains("precision"))
        guard case let .rejected(reason2) = results[2] else { Issue.record("a '_' attribute must be refused"); return }
        #expect(reason2.contains("reserves"))
        #expect(try db.content("ok") == ["t": .string("2024-03-01T12:00:00.123456Z"), "b": .string("3q0="), "d": .double(12.5),
                                         "big": .decimal(ExactDecimal("123456789012345678901234567890")!), "u": .string("ü 😀")])
        #expect(try db.get("precise") == nil)
    }

    @Test func aPatchThatChangesNothingWritesNoRevision() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let rev = try db.put("same", ["t": .string("2024-03-01T12:00:00Z"), "n": .int(1)])
        let sink = CouchDBSink(config: try db.config())
        #expect(try await sink.apply([patch(db, "same", .upsert(set: ["t": .timestamp(1_709_294_400_000_000), "n": .int(1)], unset: ["gone"]))]) == [.applied])
        #expect(try db.get("same")?["_rev"] == .string(rev))
    }

    @Test func guardsRefuseWritesOverANewerLocalEdit() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try db.put("g", ["a": .int(1), "b": .int(1)])
        let sink = CouchDBSink(config: try db.config())
        try await sink.prepare(collections: [db.spec])
        // The ledger believes a = 1: holds.
        #expect(try await sink.apply([patch(db, "g", .upsert(set: ["a": .int(2)], unset: []), expected: ["a": .int(1), "_id": .string("g")])]) == [.applied])
        // The ledger believes a = 1 but the store has 2 now: refused.
        #expect(try await sink.apply([patch(db, "g", .upsert(set: ["a": .int(3)], unset: []), expected: ["a": .int(1), "_id": .string("g")])]) == [.guardFailed])
        // A create guarded by "missing" fails on an existing document; a delete guarded by stale values too.
        #expect(try await sink.apply([patch(db, "g", .replace(["c": .int(1)]), expected: ["_id": nil])]) == [.guardFailed])
        #expect(try await sink.apply([patch(db, "g", .delete, expected: ["a": .int(1), "b": .int(1), "_id": .string("g")])]) == [.guardFailed])
        #expect(try db.content("g") == ["a": .int(2), "b": .int(1)])
        #expect(try await sink.apply([patch(db, "new", .replace(["c": .int(1)]), expected: ["_id": nil])]) == [.applied])
    }

    @Test func aConflictOnWriteIsResolvedByReReadingAndMerging() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try db.put("c", ["a": .int(1), "b": .int(1)])
        let sink = CouchDBSink(config: try db.config())
        try await sink.prepare(collections: [db.spec])
        let other = try CouchDBTestDatabase.attach(to: db)
        let writes = Counter()
        sink.state.beforeWrite = { _ in
            // An application edits b between the sink's read and its write, once.
            if writes.next() == 0 { try other.put("c", ["a": .int(1), "b": .int(2)]) }
        }
        // Unconditional: applied on top of the newer revision, keeping the application's b.
        #expect(try await sink.apply([patch(db, "c", .upsert(set: ["a": .int(5)], unset: []))]) == [.applied])
        #expect(try db.content("c") == ["a": .int(5), "b": .int(2)])
        #expect(writes.value == 2)
        // Guarded on b: after the re-read the guard no longer holds.
        writes.reset()
        sink.state.beforeWrite = { _ in
            if writes.next() == 0 { try other.put("c", ["a": .int(5), "b": .int(9)]) }
        }
        #expect(try await sink.apply([patch(db, "c", .upsert(set: ["b": .int(3)], unset: []), expected: ["b": .int(2), "_id": .string("c")])]) == [.guardFailed])
        #expect(try db.content("c") == ["a": .int(5), "b": .int(9)])
    }

    @Test func aMissingDatabaseIsAnErrorUnlessCreateIsSet() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let missing = db.name + "_missing"
        let spec = CollectionSpec(name: missing, keyAttributes: ["_id"])
        let sink = CouchDBSink(config: try db.config())
        await #expect {
            _ = try await sink.apply([DocumentPatch(collection: missing, key: ["_id": .string("x")], action: .replace([:]))])
        } throws: { error in
            (error as? ConnectorError)?.message.contains("create: true") == true
        }
        let creating = CouchDBSink(config: try db.config(create: true))
        try await creating.prepare(collections: [spec])
        #expect(try await creating.apply([DocumentPatch(collection: missing, key: ["_id": .string("x")], action: .replace(["v": .int(1)]))]) == [.applied])
        _ = try? db.client.send("DELETE", "/" + missing, doing: "cleaning up", accept: [200, 202, 404])
    }
}

/// A thread-safe counter for test hooks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func next() -> Int { lock.withLock { defer { n += 1 }; return n } }
    var value: Int { lock.withLock { n } }
    func reset() { lock.withLock { n = 0 } }
}

extension CouchDBTestDatabase {
    /// A second handle on the same database (another client, as a concurrent application).
    static func attach(to db: CouchDBTestDatabase) throws -> CouchDBTestDatabase {
        try CouchDBTestDatabase(existing: db.name, server: db.client.config.server, url: db.url)
    }
}
