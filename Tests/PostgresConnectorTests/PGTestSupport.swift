import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import Logging
import SQLiteConnector
import Testing
@testable import PostgresConnector

/// The server the integration tests use: `DELTABRIDGE_PG_URL` (exported by scripts/test.sh).
enum PGTestServer {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "DELTABRIDGE_PG_URL is not set: the PostgreSQL integration tests need a server — run them through scripts/test.sh, or `source scripts/servers.sh; servers_init; start_postgres` first"
        }
    }

    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DELTABRIDGE_PG_URL"], !url.isEmpty else { throw Missing() }
        return url
    }

    /// `url` with its database replaced by `database`.
    static func url(_ base: String, database: String) -> String {
        var head = base
        var query = ""
        if let q = head.firstIndex(of: "?") {
            query = String(head[q...])
            head = String(head[..<q])
        }
        let schemeEnd = head.range(of: "://")?.upperBound ?? head.startIndex
        if let slash = head[schemeEnd...].firstIndex(of: "/") {
            head = String(head[..<slash])
        }
        return head + "/" + database + query
    }
}

/// Records warnings of the connectors for assertions.
final class WarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var handler: PostgresWarningHandler { { [self] line in lock.withLock { lines.append(line) } } }
    var all: [String] { lock.withLock { lines } }
}

/// A database of its own for one test (random name), with a connection to run SQL as an
/// application would. ``drop()`` removes it with the test's slots and origins.
final class PGTestDatabase: @unchecked Sendable {
    let name: String
    let url: String
    let serverURL: String
    /// A suffix unique to this test, for store, slot and origin names (which are cluster-wide).
    let suffix: String
    let conn: PGConnection

    init() throws {
        serverURL = try PGTestServer.url()
        suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        name = "dbt_" + suffix
        let admin = try PGConnection.connect(url: serverURL, replication: false, store: "test")
        defer { admin.close() }
        try admin.exec("CREATE DATABASE \(name)")
        url = PGTestServer.url(serverURL, database: name)
        conn = try PGConnection.connect(url: url, replication: false, store: "test")
    }

    /// A store name unique to this test: `<base>_<suffix>`.
    func store(_ base: String = "pg") -> String { "\(base)_\(suffix)" }

    func config(_ store: String? = nil, warn: @escaping PostgresWarningHandler = { _ in }) -> PostgresStoreConfig {
        PostgresStoreConfig(store: StoreID(store ?? self.store()), url: url, warn: warn)
    }

    @discardableResult
    func exec(_ sql: String, _ parameters: [String?] = []) throws -> PGResult {
        try conn.exec(sql, parameters)
    }

    /// Rows as text.
    func rows(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let r = try conn.exec(sql, parameters)
        return (0..<r.rowCount).map { row in (0..<r.columnCount).map { r.value(row, $0) } }
    }

    func scalar(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try rows(sql, parameters).first?.first ?? nil
    }

    /// Drops the database after its slots (terminating their walsenders) and this test's origins.
    func drop() {
        conn.close()
        guard let admin = try? PGConnection.connect(url: serverURL, replication: false, store: "test") else { return }
        defer { admin.close() }
        for _ in 0..<50 {
            _ = try? admin.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", [name])
            _ = try? admin.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", [name])
            if (try? admin.exec("SELECT 1 FROM pg_replication_slots WHERE database = $1", [name]).rowCount) == 0 { break }
            usleep(100_000)
        }
        _ = try? admin.exec("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE $1", ["%" + suffix])
        _ = try? admin.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// A fresh temporary folder for one test, removed when released.
final class PGTemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "deltabridge-pg-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Builds and runs pipelines from YAML text with the SQLite and PostgreSQL connectors.
enum PGPipeline {
    static func registry(warn: @escaping PostgresWarningHandler = { _ in }) -> ConnectorRegistry {
        ConnectorRegistry([SQLiteConnectorFactory(), PostgresConnectorFactory(warn: warn)])
    }

    static func load(_ yaml: String, in directory: PGTemporaryDirectory, warn: @escaping PostgresWarningHandler = { _ in }) throws -> PipelineConfig {
        try PipelineLoader.parse(text: yaml, file: directory.file("pipeline.yaml"), environment: [:],
                                 storeTypes: registry(warn: warn).storeTypes)
    }

    static func engine(_ config: PipelineConfig, warn: @escaping PostgresWarningHandler = { _ in }) throws -> PipelineEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try PipelineEngine(config: config, registry: registry(warn: warn), logger: logger)
    }
}

/// Reads every change after `position` until caught up (follow: false).
func drainChanges(_ source: PostgresSource, _ specs: [CollectionSpec], after position: String) async throws -> (changes: [RowChange], position: String, batches: Int) {
    var changes: [RowChange] = []
    var last = position
    var batches = 0
    for try await batch in source.changes(of: specs, after: position, follow: false) {
        changes += batch.changes
        last = batch.position
        batches += 1
    }
    return (changes, last, batches)
}

/// The shared guard with this suite's default time.
func withPGTimeout<T: Sendable>(_ seconds: Double = 60, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeout(seconds, body)
}
