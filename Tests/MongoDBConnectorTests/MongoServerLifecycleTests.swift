import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import Synchronization
import Testing
@testable import MongoDBConnector

/// Tests on servers of their own: a restart under a running stream, a trimmed oplog, a server that
/// is not a replica set, authentication.
@Suite struct MongoServerLifecycleTests {
    let spec = CollectionSpec(name: "people", keyAttributes: ["_id"])

    /// Collects what a following stream delivers.
    final class Collected: Sendable {
        let ids = Mutex<[Value]>([])
        let failure = Mutex<String?>(nil)
        var count: Int { ids.withLock { $0.count } }
    }

    @Test func aFollowingStreamSurvivesAServerRestart() async throws {
        let server = try await offPool { try PrivateMongoServer() }
        let db = try MongoTestDatabase(url: server.url)
        let warnings = MongoWarningLog()
        let source = MongoSource(config: db.config(warn: warnings.handler))
        let reader = try await source.beginSnapshot(of: [spec])
        let start = reader.position
        await reader.close()
        let collected = Collected()
        let spec = self.spec
        let task = Task {
            do {
                for try await batch in source.changes(of: [spec], after: start, follow: true) {
                    collected.ids.withLock { $0 += batch.changes.compactMap { $0.attributes["_id"] } }
                }
            } catch {
                collected.failure.withLock { $0 = "\(error)" }
            }
        }
        defer { task.cancel() }
        try db.insert("people", [BSONDocument(["_id": .int32(1)])])
        try await awaitCondition("the first insert") { collected.count == 1 }
        db.conn.close()
        try await offPool { server.stop() }
        try await offPool { try server.start() }
        let again = try MongoConnection.connect(db.config())
        _ = try again.command(BSONDocument([("insert", .string("people")), ("documents", .array([.document(BSONDocument(["_id": .int32(2)]))]))]))
        try await awaitCondition("the insert after the restart", timeout: 60) { collected.count >= 2 || collected.failure.withLock { $0 } != nil }
        #expect(collected.failure.withLock { $0 } == nil)
        #expect(collected.ids.withLock { $0 } == [.int(1), .int(2)])
        // (libmongoc may resume the stream itself, or the connector reconnects with a warning.)
        again.close()
    }

    @Test func aPositionTheOplogNoLongerHoldsNeedsAResync() async throws {
        let server = try await offPool { try PrivateMongoServer(flags: ["--oplog-max-entries", "50"]) }
        let db = try MongoTestDatabase(url: server.url)
        let source = MongoSource(config: db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        let start = reader.position
        await reader.close()
        // SecantusDB trims its oplog every 1000 entries.
        for i in 0..<11 {
            try db.insert("people", (0..<100).map { BSONDocument(["_id": .int32(Int32(i * 100 + $0))]) })
        }
        // The snapshot's resume token (the server reports the loss) and its cluster time (the
        // connector checks the oplog's oldest entry: SecantusDB would start there silently).
        let atTime = try #require(MongoPosition(start)).time
        for position in [start, MongoPosition.operationTime(atTime).description] {
            await #expect {
                _ = try await drainMongo(source, [spec], after: position)
            } throws: { error in
                guard let e = error as? ConnectorError else { return false }
                return e.kind == .positionLost && e.message.contains("deltabridge resync") && !e.message.contains("\n")
            }
        }
    }

    @Test func validateNamesAServerThatIsNotAReplicaSet() async throws {
        let server = try await offPool { try PrivateMongoServer(flags: ["--standalone"]) }
        let db = try MongoTestDatabase(url: server.url)
        let problems = try await MongoSource(config: db.config()).validate(collections: [spec], asSource: true, asSink: false)
        #expect(problems.contains { $0.problem.contains("not a replica set") && $0.fix.contains("--replSet") }, "\(problems)")
        let asSink = try await MongoSink(config: db.config()).validate(collections: [spec], asSource: false, asSink: true)
        #expect(asSink.isEmpty, "a sink needs no replica set: \(asSink)")
    }

    @Test func wrongCredentialsAreAClearError() async throws {
        let server = try await offPool { try PrivateMongoServer() }
        let admin = try MongoConnection.connect(MongoStoreConfig(store: "setup", url: server.url, database: "admin"))
        _ = try admin.command(BSONDocument([("createUser", .string("bridge")), ("pwd", .string("secret")),
                                            ("roles", .array([.document(BSONDocument([("role", .string("root")), ("db", .string("admin"))]))]))]))
        admin.close()
        try await offPool { server.stop() }
        try await offPool { try server.start(extra: ["--auth"]) }
        let base = "mongodb://bridge:%@127.0.0.1:\(server.port)/?directConnection=true&authSource=admin&serverSelectionTimeoutMS=3000"
        let wrong = MongoStoreConfig(store: "m", url: base.replacingOccurrences(of: "%", with: "nope"), database: "app")
        let problems = try await MongoSource(config: wrong).validate(collections: [spec], asSource: true, asSink: true)
        #expect(problems.count == 1)
        #expect(problems.first?.problem.contains("authentication failed") == true, "\(problems)")
        await #expect {
            _ = try await MongoSink(config: wrong).apply([DocumentPatch(collection: "people", key: ["_id": .int(1)], action: .delete)])
        } throws: { error in
            (error as? ConnectorError)?.kind == .permanent && "\(error)".contains("check the user and password")
        }
        let right = MongoStoreConfig(store: "m", url: base.replacingOccurrences(of: "%", with: "secret"), database: "app")
        let fine = try await MongoSource(config: right).validate(collections: [spec], asSource: true, asSink: true)
        #expect(fine.isEmpty, "\(fine)")
    }
}
