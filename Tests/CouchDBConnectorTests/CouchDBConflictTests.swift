import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import CouchDBConnector

/// CouchDB's own conflicts (several live leaves, as replication or offline edits leave them):
/// the source merges the leaves attribute by attribute, writes the result on the winning branch
/// and deletes the losers.
@Suite struct CouchDBConflictTests {
    static let base = "1-" + String(repeating: "a", count: 32)

    /// Grafts a document with two branches from one common revision: each branch edits a
    /// different attribute (`x` on branch b, `y` on branch c), and both edit `both`.
    func makeConflict(_ db: CouchDBTestDatabase, _ id: String) throws {
        let a = String(repeating: "a", count: 32), b = String(repeating: "b", count: 32), c = String(repeating: "c", count: 32)
        let docs: [Value] = [
            .object(["_id": .string(id), "_rev": .string("1-" + a), "x": .int(1), "y": .int(1), "both": .string("base"), "gone": .bool(true)]),
            .object(["_id": .string(id), "_rev": .string("2-" + b), "_revisions": .object(["start": .int(2), "ids": .array([.string(b), .string(a)])]),
                     "x": .int(2), "y": .int(1), "both": .string("from b"), "gone": .bool(true)]),
            .object(["_id": .string(id), "_rev": .string("2-" + c), "_revisions": .object(["start": .int(2), "ids": .array([.string(c), .string(a)])]),
                     "x": .int(1), "y": .int(2), "both": .string("from c")]),
        ]
        for d in docs {
            try db.client.send("POST", "/\(db.name)/_bulk_docs", body: .object(["new_edits": .bool(false), "docs": .array([d])]), doing: "grafting a branch")
        }
        let conflicts = try db.get(id)?["_conflicts"]?.arrayValue ?? []
        #expect(conflicts.count == 1, "the test document must be in conflict")
    }

    @Test func conflictingLeavesAreMergedPerAttributeAndTheLosersDeleted() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [db.spec])
        try makeConflict(db, "k")
        let changes = try await drainCouchChanges(source, [db.spec], after: reader.position).changes
        // The winner is 2-ccc… (higher revision id): it keeps `both` and its removal of `gone`;
        // branch b's edit of x survives (rule 1).
        let merged: [String: Value] = ["x": .int(2), "y": .int(2), "both": .string("from c")]
        var expected = merged
        expected["_id"] = .string("k")
        #expect(changes.first?.attributes == expected)
        #expect(changes.first?.isEcho == false)
        #expect(changes.dropFirst().allSatisfy { $0.isEcho }, "the resolution's write, read on the next page, is an echo")
        let doc = try db.get("k")
        #expect(doc?["_conflicts"] == nil, "the losing leaf is deleted")
        #expect(try db.content("k") == merged)
        // The resolution's own revisions come back as echoes.
        let end = try await drainCouchChanges(source, [db.spec], after: reader.position)
        #expect(end.changes.allSatisfy { $0.isEcho })
    }

    @Test func theSnapshotResolvesConflictsToo() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try makeConflict(db, "s")
        let source = CouchDBSource(config: try db.config())
        let reader = try await source.beginSnapshot(of: [db.spec])
        let rows = try await readSnapshot(reader, db.spec, limit: 10)
        #expect(rows.map(\.attributes) == [["_id": .string("s"), "x": .int(2), "y": .int(2), "both": .string("from c")]])
        #expect(try db.get("s")?["_conflicts"] == nil)
    }

    @Test func resolutionCanBeTurnedOff() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try makeConflict(db, "off")
        var config = try db.config()
        config.resolveConflicts = false
        let source = CouchDBSource(config: config)
        let reader = try await source.beginSnapshot(of: [db.spec])
        let rows = try await readSnapshot(reader, db.spec, limit: 10)
        #expect(rows.first?.attributes["x"] == .int(1))
        #expect(try db.get("off")?["_conflicts"] != nil)
    }
}
