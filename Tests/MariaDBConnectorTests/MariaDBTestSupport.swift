import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import Logging
import PostgresConnector
import SQLiteConnector
import Testing
@testable import MariaDBConnector

/// The server the integration tests use: `DELTABRIDGE_MARIADB_URL` (exported by scripts/test.sh).
enum MariaDBTestServer {
    struct Missing: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set: the MariaDB integration tests need a server — run them through scripts/test.sh, or start one with `scripts/dev-servers.sh /tmp/dev.env mariadb postgres &` and `source /tmp/dev.env`"
        }
    }

    static func variable(_ name: String) throws -> String {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { throw Missing(variable: name) }
        return v
    }

    static func url() throws -> MariaDBURL {
        let text = try variable("DELTABRIDGE_MARIADB_URL")
        guard case let .success(url) = MariaDBURL.parse(text) else { throw Missing(variable: "DELTABRIDGE_MARIADB_URL (unparsable: \(text))") }
        return url
    }
}

/// Records warnings of the connectors for assertions.
final class MariaDBWarnings: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var handler: MariaDBWarningHandler { { [self] line in lock.withLock { lines.append(line) } } }
    var all: [String] { lock.withLock { lines } }
}

/// A database of its own for one test (random name) on the shared server, with a connection to
/// run SQL as an application would.
final class MariaDBTestDatabase: @unchecked Sendable {
    let name: String
    let url: MariaDBURL
    let suffix: String
    let conn: MariaDBConnection

    init(server: MariaDBURL? = nil) throws {
        let base = try server ?? MariaDBTestServer.url()
        suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        name = "dbt_" + suffix
        let admin = try MariaDBConnection.connect(base)
        defer { admin.close() }
        try admin.exec("CREATE DATABASE \(name) CHARACTER SET utf8mb4")
        var url = base
        url.database = name
        self.url = url
        conn = try MariaDBConnection.connect(url)
    }

    func store(_ base: String = "maria") -> String { "\(base)_\(suffix)" }

    func config(_ store: String? = nil, warn: @escaping MariaDBWarningHandler = { _ in }) -> MariaDBStoreConfig {
        MariaDBStoreConfig(store: StoreID(store ?? self.store()), url: url, warn: warn)
    }

    /// `mysql://…/db` of this database, for pipeline files.
    var urlText: String {
        "mysql://\(url.user)\(url.password.map { ":" + $0 } ?? "")@\(url.host):\(url.port)/\(name)"
    }

    @discardableResult
    func exec(_ sql: String) throws -> UInt64 { try conn.exec(sql) }

    func rows(_ sql: String) throws -> [[String?]] {
        let r = try conn.query(sql)
        return r.rows.indices.map { i in r.columns.indices.map { r.text(i, $0) } }
    }

    func scalar(_ sql: String) throws -> String? { try conn.scalar(sql) }

    /// The server's current GTID state, as a source position.
    func head() throws -> String { "gtid:" + (try scalar("SELECT @@global.gtid_binlog_pos") ?? "") }

    func drop() {
        _ = try? conn.exec("DROP DATABASE IF EXISTS \(name)")
        conn.close()
    }
}

/// Reads every change after `position` until caught up (follow: false).
func drainMariaDB(_ source: MariaDBSource, _ specs: [CollectionSpec], after position: String) async throws -> (changes: [RowChange], position: String) {
    var changes: [RowChange] = []
    var last = position
    for try await batch in source.changes(of: specs, after: position, follow: false) {
        changes += batch.changes
        last = batch.position
    }
    return (changes, last)
}

/// Polls `condition` until it holds (a deadline only guards against hangs).
func eventually(_ what: String, timeout: Double = 30, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TimedOut(what: what)
}

/// Builds and runs pipelines from YAML text with the SQLite, PostgreSQL and MariaDB connectors.
enum MariaDBPipeline {
    static func registry(warn: @escaping MariaDBWarningHandler = { _ in }) -> ConnectorRegistry {
        ConnectorRegistry([SQLiteConnectorFactory(), PostgresConnectorFactory(warn: { _ in }), MariaDBConnectorFactory(warn: warn)])
    }

    static func load(_ yaml: String, directory: String, warn: @escaping MariaDBWarningHandler = { _ in }) throws -> PipelineConfig {
        try PipelineLoader.parse(text: yaml, file: directory + "/pipeline.yaml", environment: [:], storeTypes: registry(warn: warn).storeTypes)
    }

    static func engine(_ config: PipelineConfig, warn: @escaping MariaDBWarningHandler = { _ in }) throws -> PipelineEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try PipelineEngine(config: config, registry: registry(warn: warn), logger: logger)
    }
}

/// The shared guard with this suite's default time.
func withMariaDBTimeout<T: Sendable>(_ seconds: Double = 60, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeout(seconds, body)
}
