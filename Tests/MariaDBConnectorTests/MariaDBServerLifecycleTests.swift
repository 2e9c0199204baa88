import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import MariaDBConnector

/// A server of the test's own (MariaDBPrivateServer) that is restarted under a running stream, or
/// whose binlog is purged past a saved position.
@Suite struct MariaDBServerLifecycleTests {
    /// Collects what a following stream delivers.
    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var ids: [Value] = []
        private var failure: (any Error)?
        func add(_ changes: [RowChange]) { lock.withLock { ids += changes.compactMap { $0.attributes["id"] } } }
        func fail(_ e: any Error) { lock.withLock { failure = e } }
        var all: [Value] { lock.withLock { ids } }
        var error: (any Error)? { lock.withLock { failure } }
    }

    @Test func theStreamSurvivesAServerRestart() async throws {
        let server = try await offPool { try MariaDBPrivateServer() }
        defer { server.destroy() }
        let db = try MariaDBTestDatabase(server: server.url)
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY)")
        let start = try db.head()
        let warnings = MariaDBWarnings()
        let source = MariaDBSource(config: db.config(warn: warnings.handler))
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let collected = Collected()
        let task = Task {
            do {
                for try await batch in source.changes(of: [spec], after: start, follow: true) { collected.add(batch.changes) }
            } catch {
                collected.fail(error)
            }
        }
        defer { task.cancel() }
        try db.exec("INSERT INTO items VALUES (1)")
        try await eventually("row 1 is streamed") { collected.all == [.int(1)] }
        db.conn.close()
        try await offPool { server.stop() }
        try await offPool { try server.start() }
        let again = try MariaDBConnection.connect(db.url)
        defer { again.close() }
        try again.exec("INSERT INTO items VALUES (2)")
        try await eventually("row 2 is streamed after the restart", timeout: 45) { collected.all.count >= 2 || collected.error != nil }
        #expect(collected.error == nil, "\(String(describing: collected.error))")
        #expect(collected.all == [.int(1), .int(2)])
        #expect(warnings.all.contains { $0.contains("reconnecting") })
    }

    @Test func aPurgedBinlogIsAClearPositionError() async throws {
        let server = try await offPool { try MariaDBPrivateServer() }
        defer { server.destroy() }
        let db = try MariaDBTestDatabase(server: server.url)
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY)")
        try db.exec("INSERT INTO items VALUES (1)")
        let saved = try db.head()
        try db.exec("INSERT INTO items VALUES (2)")
        let old = try #require(try db.rows("SHOW MASTER STATUS").first?.first ?? nil)
        try db.exec("FLUSH BINARY LOGS")
        try db.exec("INSERT INTO items VALUES (3)")
        let file = try #require(try db.rows("SHOW MASTER STATUS").first?.first ?? nil)
        // The server keeps a file until its binlog checkpoint (InnoDB) has passed it: purge again
        // until the file with the saved position is gone.
        try await eventually("binlog \(old) is purged") {
            try db.exec("PURGE BINARY LOGS TO '\(file)'")
            return try !db.rows("SHOW BINARY LOGS").contains { $0.first == old }
        }
        let source = MariaDBSource(config: db.config())
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let gtid = String(saved.dropFirst(5))
        do {
            for try await _ in source.changes(of: [spec], after: saved, follow: false) {}
            Issue.record("streamed from a purged position")
        } catch let e as ConnectorError {
            #expect(e.kind == .positionLost)
            #expect(e.message.contains(gtid), "\(e.message)")
            #expect(e.message.contains("deltabridge resync"))
            #expect(!e.message.contains("\n"))
        }
    }
}
