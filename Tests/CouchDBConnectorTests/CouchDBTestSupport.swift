import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import Logging
@testable import PostgresConnector
import SQLiteConnector
import Testing
@testable import CouchDBConnector

/// The CouchDB the integration tests use: `DELTABRIDGE_COUCHDB_URL` (exported by scripts/test.sh,
/// which starts the stand-in when no real CouchDB is given).
enum CouchDBTestServer {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "DELTABRIDGE_COUCHDB_URL is not set: the CouchDB integration tests need a server — run them through scripts/test.sh, or `scripts/dev-servers.sh ENVFILE couchdb` and source ENVFILE, or set DELTABRIDGE_COUCHDB_URL=http://USER:PASS@HOST:PORT (DELTABRIDGE_SKIP_COUCHDB=1 skips them explicitly)"
        }
    }

    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DELTABRIDGE_COUCHDB_URL"], !url.isEmpty else { throw Missing() }
        return url
    }

    static func server() throws -> CouchDBServer {
        guard case let .success(s) = CouchDBServer.parse(try url()) else { throw Missing() }
        return s
    }
}

/// A database of its own for one test (random name), with a client to act as an application.
final class CouchDBTestDatabase: @unchecked Sendable {
    let name: String
    let suffix: String
    let url: String
    let client: CouchDBClient

    init(server: CouchDBServer? = nil, url: String? = nil) throws {
        suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        name = "dbt_" + suffix
        self.url = try url ?? CouchDBTestServer.url()
        let s = try server ?? CouchDBTestServer.server()
        client = CouchDBClient(config: CouchDBStoreConfig(store: "test", server: s))
        try client.send("PUT", "/" + name, doing: "creating the test database", accept: [201, 202])
    }

    /// A handle on an existing database.
    init(existing: String, server: CouchDBServer, url: String) throws {
        name = existing
        suffix = String(existing.dropFirst(4))
        self.url = url
        client = CouchDBClient(config: CouchDBStoreConfig(store: "test", server: server))
    }

    func config(_ store: String = "couch", create: Bool = false) throws -> CouchDBStoreConfig {
        CouchDBStoreConfig(store: StoreID(store), server: client.config.server, create: create)
    }

    var spec: CollectionSpec { CollectionSpec(name: name, keyAttributes: ["_id"]) }

    /// Writes a document (creating or updating it on its current rev); returns the new rev.
    @discardableResult
    func put(_ id: String, _ body: [String: Value]) throws -> String {
        var doc = body
        doc["_id"] = .string(id)
        if let rev = try get(id)?["_rev"] { doc["_rev"] = rev }
        let r = try client.send("PUT", CouchDBStoreConfig.path(name, id), body: .object(doc), doing: "writing \(id)")
        return r.json.objectValue?["rev"]?.stringValue ?? ""
    }

    func get(_ id: String) throws -> [String: Value]? {
        let r = try client.send("GET", CouchDBStoreConfig.path(name, id) + "?conflicts=true", doing: "reading \(id)", accept: [200, 404])
        return r.status == 404 ? nil : r.json.objectValue
    }

    func delete(_ id: String) throws {
        guard let rev = try get(id)?["_rev"]?.stringValue else { return }
        try client.send("DELETE", CouchDBStoreConfig.path(name, id) + CouchDBStoreConfig.query([("rev", rev)]), doing: "deleting \(id)")
    }

    /// The document's members without `_rev`/`_id`, for comparisons.
    func content(_ id: String) throws -> [String: Value]? {
        try get(id).map { $0.filter { !$0.key.hasPrefix("_") } }
    }

    func drop() {
        _ = try? client.send("DELETE", "/" + name, doing: "dropping the test database", accept: [200, 202, 404])
    }
}

/// A fresh temporary folder for one test, removed when released.
final class CouchDBTemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "deltabridge-couch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Builds and runs pipelines from YAML text with the SQLite, PostgreSQL and CouchDB connectors.
enum CouchDBPipeline {
    static func registry() -> ConnectorRegistry {
        ConnectorRegistry([SQLiteConnectorFactory(), PostgresConnectorFactory(warn: { _ in }), CouchDBConnectorFactory()])
    }

    static func load(_ yaml: String, in directory: CouchDBTemporaryDirectory) throws -> PipelineConfig {
        try PipelineLoader.parse(text: yaml, file: directory.file("pipeline.yaml"), environment: [:], storeTypes: registry().storeTypes)
    }

    static func engine(_ config: PipelineConfig) throws -> PipelineEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try PipelineEngine(config: config, registry: registry(), logger: logger)
    }
}

/// Reads every change after `position` until caught up (follow: false).
func drainCouchChanges(_ source: CouchDBSource, _ specs: [CollectionSpec], after position: String) async throws -> (changes: [RowChange], position: String) {
    var changes: [RowChange] = []
    var last = position
    for try await batch in source.changes(of: specs, after: position, follow: false) {
        changes += batch.changes
        last = batch.position
    }
    return (changes, last)
}

/// Polls `condition` every 50 ms until it holds, failing after `seconds`.
func awaitCouch(_ what: String, seconds: Double = 30, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(what: what)
}

/// A private CouchDB stand-in started by a test as its own child process (for restarts), on a
/// fixed port and data folder; stopped by its own PID.
final class PrivateCouchStandin: @unchecked Sendable {
    let script: String
    let data: String
    private(set) var port: Int = 0
    private var process: Process?

    struct NoStandin: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "the CouchDB stand-in is needed for restart tests and was not found at \(path) — set DELTABRIDGE_COUCHDB_STANDIN=/path/to/couchdb-standin/server.py"
        }
    }

    init(data: String) throws {
        let env = ProcessInfo.processInfo.environment
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        script = env["DELTABRIDGE_COUCHDB_STANDIN"] ?? root + "/../shared/couchdb-standin/server.py"
        guard FileManager.default.fileExists(atPath: script) else { throw NoStandin(path: script) }
        self.data = data
    }

    var url: String { "http://admin:secret@127.0.0.1:\(port)" }

    /// Starts it (on the previous port after a stop) and waits for its ready line.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, "--port", String(port), "--admin", "admin:secret", "--data", data, "--lockout-threshold", "0"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        var line = Data()
        let handle = out.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { throw TimedOut(what: "the stand-in's ready line") }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let r = text.range(of: "127.0.0.1:"), let end = text[r.upperBound...].firstIndex(of: "/"),
              let n = Int(text[r.upperBound..<end]) else { throw TimedOut(what: "the stand-in's port in '\(text)'") }
        port = n
    }

    /// Stops it by its PID (SIGKILL when `hard`) and waits until it is gone.
    func stop(hard: Bool = false) {
        guard let p = process else { return }
        kill(p.processIdentifier, hard ? SIGKILL : SIGTERM)
        p.waitUntilExit()
        process = nil
    }

    deinit { stop(hard: true) }
}

/// A PostgreSQL database of its own for one test (random name, `DELTABRIDGE_PG_URL`), with a
/// connection to run SQL as an application would.
final class CouchPGDatabase: @unchecked Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "DELTABRIDGE_PG_URL is not set: the CouchDB↔PostgreSQL tests need a PostgreSQL — run them through scripts/test.sh, or `scripts/dev-servers.sh ENVFILE postgres couchdb` and source ENVFILE"
        }
    }

    let name: String
    let url: String
    let serverURL: String
    let conn: PGConnection
    /// Replication origins are cluster-wide and each holds one of `max_replication_slots` state
    /// slots: the test's are dropped with its database (names ending in these suffixes).
    private let originSuffixes: [String]

    init(originSuffixes: [String]) throws {
        self.originSuffixes = originSuffixes
        guard let server = ProcessInfo.processInfo.environment["DELTABRIDGE_PG_URL"], !server.isEmpty else { throw Missing() }
        serverURL = server
        name = "cdbt_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let admin = try PGConnection.connect(url: server, replication: false, store: "test")
        defer { admin.close() }
        try admin.exec("CREATE DATABASE \(name)")
        var head = server
        var query = ""
        if let q = head.firstIndex(of: "?") { query = String(head[q...]); head = String(head[..<q]) }
        let schemeEnd = head.range(of: "://")?.upperBound ?? head.startIndex
        if let slash = head[schemeEnd...].firstIndex(of: "/") { head = String(head[..<slash]) }
        url = head + "/" + name + query
        conn = try PGConnection.connect(url: url, replication: false, store: "test")
    }

    @discardableResult
    func exec(_ sql: String, _ parameters: [String?] = []) throws -> PGResult { try conn.exec(sql, parameters) }

    func rows(_ sql: String) throws -> [[String?]] {
        let r = try conn.exec(sql)
        return (0..<r.rowCount).map { row in (0..<r.columnCount).map { r.value(row, $0) } }
    }

    /// Drops the database after its replication slots, then the test's replication origins.
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
        _ = try? admin.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        for suffix in originSuffixes {
            _ = try? admin.exec("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE $1", ["%" + suffix])
        }
    }
}

/// The shared guard with this suite's default time.
func withCouchTimeout<T: Sendable>(_ seconds: Double = 60, _ what: String = "the operation", _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeout(seconds, what: what, body)
}
