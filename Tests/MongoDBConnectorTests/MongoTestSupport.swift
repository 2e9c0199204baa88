import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import Logging
import PostgresConnector
import SQLiteConnector
import Testing
@testable import MongoDBConnector

/// The server the integration tests use: `DELTABRIDGE_MONGO_URL` (exported by scripts/test.sh).
enum MongoTestServer {
    struct Missing: Error, CustomStringConvertible {
        var name = "DELTABRIDGE_MONGO_URL"
        var description: String {
            "\(name) is not set: the MongoDB integration tests need a MongoDB-wire server — run them through scripts/test.sh, or `scripts/dev-servers.sh /tmp/dev.env mongo &` and `source /tmp/dev.env` first"
        }
    }

    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DELTABRIDGE_MONGO_URL"], !url.isEmpty else { throw Missing() }
        return url
    }

    static func environment(_ name: String) throws -> String {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { throw Missing(name: name) }
        return v
    }
}

/// Records warnings of the connectors for assertions.
final class MongoWarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var handler: MongoWarningHandler { { [self] line in lock.withLock { lines.append(line) } } }
    var all: [String] { lock.withLock { lines } }
}

/// A database of its own for one test (random name) and a client to act as an application.
final class MongoTestDatabase: @unchecked Sendable {
    let name: String
    let url: String
    let suffix: String
    let conn: MongoConnection

    init(url: String? = nil) throws {
        self.url = try url ?? MongoTestServer.url()
        suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        name = "dbt_" + suffix
        conn = try MongoConnection.connect(MongoStoreConfig(store: "test", url: self.url, database: name))
    }

    func store(_ base: String = "mongo") -> String { "\(base)_\(suffix)" }

    func config(_ store: String? = nil, nesting: MongoNesting = .top, warn: @escaping MongoWarningHandler = { _ in }) -> MongoStoreConfig {
        MongoStoreConfig(store: StoreID(store ?? self.store()), url: url, database: name, nesting: nesting, warn: warn)
    }

    @discardableResult
    func command(_ fields: [(String, BSONValue)]) throws -> BSONDocument {
        let reply = try conn.command(BSONDocument(fields))
        if case let .array(errors)? = reply["writeErrors"], !errors.isEmpty { throw MongoTestFailure("write errors: \(errors)") }
        return reply
    }

    func insert(_ collection: String, _ documents: [BSONDocument]) throws {
        try command([("insert", .string(collection)), ("documents", .array(documents.map { .document($0) }))])
    }

    func update(_ collection: String, _ id: BSONValue, _ update: BSONDocument) throws {
        try command([("update", .string(collection)), ("updates", .array([.document(BSONDocument([
            ("q", .document(BSONDocument([("_id", id)]))), ("u", .document(update))]))]))])
    }

    func delete(_ collection: String, _ id: BSONValue) throws {
        try command([("delete", .string(collection)), ("deletes", .array([.document(BSONDocument([
            ("q", .document(BSONDocument([("_id", id)]))), ("limit", .int32(1))]))]))])
    }

    func find(_ collection: String) throws -> [BSONDocument] {
        let reply = try command([("find", .string(collection)), ("sort", .document(BSONDocument([("_id", .int32(1))]))), ("batchSize", .int32(10000))])
        guard case let .document(c)? = reply["cursor"], case let .array(batch)? = c["firstBatch"] else { return [] }
        return batch.compactMap { if case let .document(d) = $0 { return d } else { return nil } }
    }

    func document(_ collection: String, _ id: BSONValue) throws -> BSONDocument? {
        try find(collection).first { $0["_id"] == id }
    }

    func drop() {
        _ = try? conn.command(BSONDocument([("dropDatabase", .int32(1))]))
        conn.close()
    }
}

struct MongoTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary folder for one test, removed when released.
final class MongoTemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "deltabridge-mongo-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Builds and runs pipelines from YAML text with the SQLite, PostgreSQL and MongoDB connectors.
enum MongoPipeline {
    static func registry(warn: @escaping MongoWarningHandler = { _ in }) -> ConnectorRegistry {
        ConnectorRegistry([SQLiteConnectorFactory(), PostgresConnectorFactory(warn: { _ in }), MongoDBConnectorFactory(warn: warn)])
    }

    static func load(_ yaml: String, in directory: MongoTemporaryDirectory, warn: @escaping MongoWarningHandler = { _ in }) throws -> PipelineConfig {
        try PipelineLoader.parse(text: yaml, file: directory.file("pipeline.yaml"), environment: [:], storeTypes: registry(warn: warn).storeTypes)
    }

    static func engine(_ config: PipelineConfig, warn: @escaping MongoWarningHandler = { _ in }) throws -> PipelineEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try PipelineEngine(config: config, registry: registry(warn: warn), logger: logger)
    }

    static func runOnce(_ config: PipelineConfig, warn: @escaping MongoWarningHandler = { _ in }) async throws -> PipelineEngine.Summary {
        try await withMongoTimeout { try await engine(config, warn: warn).runOnce() }
    }
}

/// Reads every change after `position` until caught up (follow: false).
func drainMongo(_ source: MongoSource, _ specs: [CollectionSpec], after position: String) async throws -> (changes: [RowChange], position: String) {
    try await withMongoTimeout {
        var changes: [RowChange] = []
        var last = position
        for try await batch in source.changes(of: specs, after: position, follow: false) {
            changes += batch.changes
            last = batch.position
        }
        return (changes, last)
    }
}

/// Polls `condition` every 50 ms until it holds, failing after `timeout` seconds.
func awaitCondition(_ what: String, timeout: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw MongoTestFailure("timed out waiting for \(what)")
}

extension BSONDocument {
    init(_ pairs: KeyValuePairs<String, BSONValue>) {
        self.init(pairs.map { ($0.key, $0.value) })
    }
}

/// The shared guard with this suite's default time.
func withMongoTimeout<T: Sendable>(_ seconds: Double = 180, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeout(seconds, body)
}
