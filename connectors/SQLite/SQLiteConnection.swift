import DeltaConnector
import SQLiteSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One lazily opened connection to the store's database file, owned by one ``BlockingWorker``.
///
/// Invariant: every method is called only from jobs on that worker, which serialises all use of
/// the (not thread-safe) connection; hence `@unchecked Sendable`.
final class SQLiteConnectionSlot: @unchecked Sendable {
    let path: String
    let busyTimeoutMilliseconds: Int32
    /// The store's `init_sql`: run once before first use, creating the file (and its folder) if
    /// missing — for quickstarts and tests whose tables the bridge may create.
    let initSQL: String?
    private var initialized = false
    private var database: SQLiteDatabase?
    private var statements: [String: SQLiteStatement] = [:]
    /// Device and inode of the file when it was opened, to notice it being replaced.
    private var identity: FileIdentity?
    /// Counts the openings: a change tells a stream its positions must be checked again.
    private(set) var generation = 0

    init(path: String, busyTimeoutMilliseconds: Int32, initSQL: String? = nil) {
        self.path = path
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.initSQL = initSQL
    }

    /// The open connection; opens it (never creating the file) on first use.
    func open() throws -> SQLiteDatabase {
        if let database { return database }
        if let initSQL, !initialized {
            try SQLiteConnectionSlot.initialize(path, sql: initSQL, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            initialized = true
        }
        let db = try SQLiteConnectionSlot.openExisting(path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        database = db
        identity = FileIdentity(path)
        generation += 1
        return db
    }

    /// Notices a database file that was deleted (a transient error naming it) or replaced (the
    /// connection is dropped, so the next ``open()`` opens the new file). An open connection would
    /// otherwise keep reading and writing the old, unlinked file.
    func verifyFile() throws {
        guard database != nil, identity != nil else { return }
        guard let current = FileIdentity(path) else {
            close()
            throw SQLiteErrors.missingFile(path)
        }
        if current != identity { close() }
    }

    /// Statements kept at most; past it the cache starts over (sinks see many column sets).
    static let statementCacheLimit = 256

    /// The two statements used last, newest first: a sink alternates between at most two per
    /// row shape, and comparing (usually the very same) strings costs less than hashing them.
    private var recent: [(sql: String, statement: SQLiteStatement)] = []

    /// A prepared statement for `sql`, cached for the life of the connection.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let first = recent.first, first.sql == sql { return first.statement }
        if recent.count > 1, recent[1].sql == sql {
            recent.swapAt(0, 1)
            return recent[0].statement
        }
        let prepared: SQLiteStatement
        if let cached = statements[sql] {
            prepared = cached
        } else {
            if statements.count >= Self.statementCacheLimit { statements.removeAll() }
            prepared = try open().prepare(sql)
            statements[sql] = prepared
        }
        recent.insert((sql, prepared), at: 0)
        if recent.count > 2 { recent.removeLast() }
        return prepared
    }

    /// Drops the cached statements (e.g. after a schema change made their column lists stale).
    func dropStatements() {
        statements = [:]
        recent = []
    }

    /// Drops the connection (after an I/O error) so that the next use reopens the file.
    func close() {
        statements = [:]
        recent = []
        database = nil
        identity = nil
    }

    /// Opens an existing database file; a missing file is a transient ``ConnectorError`` naming it.
    static func openExisting(_ path: String, busyTimeoutMilliseconds: Int32) throws -> SQLiteDatabase {
        if !fileExists(path) { throw SQLiteErrors.missingFile(path) }
        do {
            return try SQLiteDatabase(path: path, mode: .init(readOnly: false, create: false), busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        } catch let error as SQLiteError {
            throw SQLiteErrors.map(error, path: path, doing: "opening the database")
        }
    }

    /// Creates the file's folder and the file if missing, then runs the store's `init_sql`.
    static func initialize(_ path: String, sql: String, busyTimeoutMilliseconds: Int32) throws {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            var folder = ""
            for part in path[..<slash].split(separator: "/", omittingEmptySubsequences: false) {
                folder += (folder.isEmpty && part.isEmpty) ? "/" : (folder.isEmpty || folder == "/" ? "" : "/") + part
                if !folder.isEmpty && folder != "/" && access(folder, F_OK) != 0 { mkdir(folder, 0o755) }
            }
        }
        do {
            let db = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            try db.execute(sql)
        } catch let error as SQLiteError {
            throw ConnectorError(error.isTransient ? .transient : .permanent,
                                 "\(path): init_sql failed: \(error.message) — fix the statement in the store's init_sql")
        }
    }

    /// True for `:memory:` and URI file names (not checked), or when a file exists at `path`.
    static func fileExists(_ path: String) -> Bool {
        if path == ":memory:" || path.hasPrefix("file:") { return true }
        return access(path, F_OK) == 0
    }

    static func isWritable(_ path: String) -> Bool {
        if path == ":memory:" || path.hasPrefix("file:") { return true }
        return access(path, W_OK) == 0
    }
}

/// A file's device and inode numbers; nil for `:memory:`, URI names and missing files.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init?(_ path: String) {
        if path == ":memory:" || path.hasPrefix("file:") { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// SQLite's primary result codes the connector distinguishes (from sqlite3.h; stable since 3.0).
enum SQLiteCode {
    static let error: Int32 = 1
    static let readOnly: Int32 = 8
    static let busy: Int32 = 5
    static let locked: Int32 = 6
    static let ioError: Int32 = 10
    static let corrupt: Int32 = 11
    static let full: Int32 = 13
    static let cantOpen: Int32 = 14
    static let `protocol`: Int32 = 15
    static let tooBig: Int32 = 18
    static let constraint: Int32 = 19
    static let mismatch: Int32 = 20
    static let range: Int32 = 25
    static let notADatabase: Int32 = 26
}

/// Classifies SQLite errors into the engine's ``ConnectorError`` kinds, with messages naming the file.
enum SQLiteErrors {
    static func missingFile(_ path: String) -> ConnectorError {
        ConnectorError(.transient, "SQLite database file '\(path)' does not exist — create it or fix `path` (retrying)")
    }

    /// Busy, locked, I/O and disk-full errors are transient; the rest are permanent.
    static func map(_ error: any Error, path: String, doing: String) -> any Error {
        guard let e = error as? SQLiteError else { return error }
        switch e.primaryCode {
        case SQLiteCode.busy, SQLiteCode.locked:
            return ConnectorError(.transient, "SQLite database '\(path)' is locked by another connection while \(doing) (\(e.message))")
        case SQLiteCode.cantOpen:
            return ConnectorError(.transient, "cannot open SQLite database file '\(path)' (\(e.message)) — check that it exists and is readable, or fix `path`")
        case SQLiteCode.ioError, SQLiteCode.full, SQLiteCode.protocol:
            return ConnectorError(.transient, "I/O error on SQLite database '\(path)' while \(doing): \(e.message)")
        case SQLiteCode.readOnly:
            return ConnectorError(.permanent, "SQLite database '\(path)' is read-only (\(e.message)) — give the bridge write permission on the file and its folder")
        case SQLiteCode.notADatabase, SQLiteCode.corrupt:
            return ConnectorError(.permanent, "'\(path)' is not a usable SQLite database (\(e.message)) — fix `path` or restore the file")
        default:
            return ConnectorError(.permanent, "SQLite error on '\(path)' while \(doing): \(e.message)")
        }
    }

    /// True for errors that retrying the same statement later can cure (busy, locked).
    static func isBusy(_ error: any Error) -> Bool {
        (error as? SQLiteError)?.isTransient ?? false
    }
}

/// Retries `body` while SQLite reports busy/locked, with exponential backoff (10 ms … 200 ms),
/// at most `attempts` times; then throws a transient ``ConnectorError``. Cancellation ends the wait.
func withBusyRetry<T: Sendable>(path: String, doing: String, attempts: Int = 20,
                                _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    var delay = 10
    var attempt = 0
    while true {
        do {
            return try await body()
        } catch let error where SQLiteErrors.isBusy(error) {
            attempt += 1
            if attempt >= attempts || Task.isCancelled { throw SQLiteErrors.map(error, path: path, doing: doing) }
            try await Task.sleep(for: .milliseconds(delay))
            delay = min(delay * 2, 200)
        }
    }
}
