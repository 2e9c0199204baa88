import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import SQLiteSupport
@testable import SQLiteConnector

/// A fresh temporary folder for one test, removed when the test's scope ends.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("deltabridge-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A database file created with `schema`, and a "user" connection to write to it as an application would.
struct TestDatabase {
    let directory: TemporaryDirectory
    let path: String
    let user: SQLiteDatabase

    init(_ schema: String) throws {
        directory = try TemporaryDirectory()
        path = directory.file("app.sqlite")
        user = try SQLiteDatabase(path: path)
        try user.execute(schema)
    }

    func exec(_ sql: String) throws { try user.execute(sql) }

    func run(_ sql: String, _ values: [SQLiteStatement.Binding]) throws {
        try user.prepare(sql).run(values)
    }

    func source(_ name: StoreID = "lite") -> SQLiteSource { SQLiteSource(store: name, path: path) }
    func sink(_ name: StoreID = "lite") -> SQLiteSink { SQLiteSink(store: name, path: path) }
}

/// All batches of a non-following stream after `position`.
func drain(_ source: SQLiteSource, _ specs: [CollectionSpec], after position: String) async throws -> [SourceBatch] {
    var batches: [SourceBatch] = []
    for try await batch in source.changes(of: specs, after: position, follow: false) { batches.append(batch) }
    return batches
}

/// The changes of `batches` and the last position.
func flatten(_ batches: [SourceBatch]) -> (changes: [RowChange], position: String) {
    (batches.flatMap(\.changes), batches.last?.position ?? "")
}

/// Like `==`, but doubles must match bit for bit (so `-0.0` differs from `0.0`).
func identical(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case let (.double(x), .double(y)): return x.bitPattern == y.bitPattern
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
    case let (.object(x), .object(y)):
        return x.count == y.count && x.allSatisfy { k, v in y[k].map { identical(v, $0) } ?? false }
    default: return a == b
    }
}

func identical(_ a: [String: Value]?, _ b: [String: Value]?) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return identical(.object(a), .object(b))
}

/// Reads a whole table through a snapshot, in chunks of `limit`.
func snapshotRows(_ reader: any SnapshotReader, _ spec: CollectionSpec, limit: Int) async throws -> (rows: [RowChange], chunks: Int) {
    var rows: [RowChange] = []
    var cursor: String?
    var chunks = 0
    repeat {
        let chunk = try await reader.read(spec, after: cursor, limit: limit)
        rows += chunk.rows
        cursor = chunk.cursor
        chunks += 1
    } while cursor != nil
    return (rows, chunks)
}
