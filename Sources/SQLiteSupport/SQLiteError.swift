import CSQLite

/// An error reported by SQLite, with its result code and the statement that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public init(code: Int32, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// The primary result code (extended codes folded), e.g. `SQLITE_BUSY`.
    public var primaryCode: Int32 { code & 0xFF }

    /// Busy or locked: another connection holds the lock; retrying later can succeed.
    public var isTransient: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    public var description: String {
        if let sql { return "SQLite error \(code): \(message) (in: \(sql.prefix(120)))" }
        return "SQLite error \(code): \(message)"
    }
}
