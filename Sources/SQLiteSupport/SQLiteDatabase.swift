import CSQLite

/// One SQLite connection. Not thread-safe: its owner serialises every use (an actor, a lock or a
/// dedicated thread). Statements prepared from it must not outlive it.
public final class SQLiteDatabase: @unchecked Sendable {
    public let path: String
    let handle: OpaquePointer

    /// How a connection is opened.
    public struct OpenMode: Sendable, Equatable {
        public var readOnly = false
        public var create = true
        public init(readOnly: Bool = false, create: Bool = true) {
            self.readOnly = readOnly
            self.create = create
        }
    }

    /// Opens (and by default creates) the database file at `path`; `:memory:` for a private one.
    /// - Parameter busyTimeoutMilliseconds: how long a statement waits for another connection's lock.
    public init(path: String, mode: OpenMode = OpenMode(), busyTimeoutMilliseconds: Int32 = 5_000) throws {
        _ = Self.configured
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        if mode.readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if mode.create { flags |= SQLITE_OPEN_CREATE }
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(message): \(path)")
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    /// Process-wide settings made once, before the first connection: SQLite keeps no memory
    /// statistics (nothing here reads them), so its allocations take no global mutex.
    private static let configured: Bool = {
        deltabridge_sqlite3_disable_memstatus() == SQLITE_OK
    }()

    deinit {
        sqlite3_close_v2(handle)
        walHook?.release()
    }

    /// The handler ``onWALCommit(_:)`` installed, kept alive for SQLite's callback.
    private final class WALHook {
        let handler: (Int32) -> Void
        init(_ handler: @escaping (Int32) -> Void) { self.handler = handler }
    }

    private var walHook: Unmanaged<WALHook>?

    /// Calls `handler` on the committing thread after each commit in WAL mode, with the number of
    /// frames in the WAL. It replaces SQLite's automatic checkpoints: the handler decides when
    /// to checkpoint.
    public func onWALCommit(_ handler: @escaping (Int32) -> Void) {
        walHook?.release()
        let hook = Unmanaged.passRetained(WALHook(handler))
        walHook = hook
        sqlite3_wal_hook(handle, { context, _, _, frames in
            if let context { Unmanaged<WALHook>.fromOpaque(context).takeUnretainedValue().handler(frames) }
            return SQLITE_OK
        }, hook.toOpaque())
    }

    /// Copies the WAL's committed frames into the database file without blocking writers or
    /// readers (a `PASSIVE` checkpoint); returns the WAL's frame count and how many of them the
    /// database now holds (equal: the next write starts the WAL over).
    @discardableResult
    public func checkpointPassive() throws -> (walFrames: Int32, checkpointed: Int32) {
        var frames: Int32 = 0
        var done: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &frames, &done)
        guard rc == SQLITE_OK || rc == SQLITE_BUSY else { throw SQLiteError(code: rc, message: lastErrorMessage) }
        return (frames, done)
    }

    /// Runs one or more statements that return no rows we need (DDL, PRAGMA, BEGIN/COMMIT).
    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message, sql: sql)
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        try SQLiteStatement(database: self, sql: sql)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`; rolls back when it throws. All or nothing.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try inTransaction(begin: "BEGIN IMMEDIATE", body)
    }

    /// Runs `body` in one read transaction (`BEGIN … COMMIT`), so that its statements see one
    /// snapshot and take the database's read lock once instead of once each.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        guard !isInTransaction else { return try body() }
        return try inTransaction(begin: "BEGIN", body)
    }

    private func inTransaction<T>(begin: String, _ body: () throws -> T) throws -> T {
        try execute(begin)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs a query and returns the first column of the first row as text (PRAGMA values, counts).
    public func scalarText(_ sql: String) throws -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.text(0)
    }

    public func scalarInt(_ sql: String) throws -> Int64? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }
    var lastErrorCode: Int32 { sqlite3_extended_errcode(handle) }

    /// Escapes an identifier for SQL text: `"na""me"`.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self {
            if c == target { out += replacement } else { out.append(c) }
        }
        return out
    }
}
