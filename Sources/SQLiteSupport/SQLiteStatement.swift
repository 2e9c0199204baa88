import CSQLite

private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement: bind parameters (1-based), step through rows, read columns (0-based),
/// reset to reuse. Belongs to one ``SQLiteDatabase`` and shares its threading rule.
public final class SQLiteStatement {
    let handle: OpaquePointer
    unowned let database: SQLiteDatabase
    public let sql: String

    init(database: SQLiteDatabase, sql: String) throws {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: database.lastErrorMessage, sql: sql)
        }
        self.handle = statement
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// The values a parameter can be bound to.
    public enum Binding: Sendable, Equatable {
        case null
        case int(Int64)
        case double(Double)
        case text(String)
        case blob([UInt8])
    }

    public func bind(_ index: Int32, _ value: Binding) throws {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(handle, index)
        case let .int(i): rc = sqlite3_bind_int64(handle, index, i)
        case let .double(d): rc = sqlite3_bind_double(handle, index, d)
        case let .text(s): rc = bindText(index, s)
        case let .blob(b):
            rc = b.withUnsafeBytes { raw in
                // A zero-length blob must still be a blob, not NULL: pass a non-nil pointer.
                sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(b.count), SQLITE_TRANSIENT)
            }
        }
        try check(rc)
    }

    public func bind(_ index: Int32, _ value: Int64) throws { try check(sqlite3_bind_int64(handle, index, value)) }
    public func bind(_ index: Int32, _ value: String) throws { try check(bindText(index, value)) }
    public func bind(_ index: Int32, blob value: [UInt8]) throws { try bind(index, .blob(value)) }
    /// Binds bytes that SQLite copies, so `bytes` need only live for the call.
    public func bind(_ index: Int32, blobBytes bytes: UnsafeBufferPointer<UInt8>) throws {
        try check(sqlite3_bind_blob(handle, index, UnsafeRawPointer(bytes.baseAddress) ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), SQLITE_TRANSIENT))
    }
    /// Binds bytes that SQLite reads in place, without a copy: they must stay valid and unchanged
    /// until the statement has been stepped and reset (then bound again before the next step).
    public func bindInPlace(_ index: Int32, blobBytes bytes: UnsafeBufferPointer<UInt8>) throws {
        try check(sqlite3_bind_blob(handle, index, UnsafeRawPointer(bytes.baseAddress) ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), nil))
    }
    /// Binds UTF-8 text that SQLite reads in place, without a copy; the rule of
    /// ``bindInPlace(_:blobBytes:)`` applies. An empty text is still text, not NULL.
    public func bindInPlace(_ index: Int32, textBytes bytes: UnsafeBufferPointer<UInt8>) throws {
        let start = UnsafeRawPointer(bytes.baseAddress ?? ("" as StaticString).utf8Start)
        try check(sqlite3_bind_text(handle, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil))
    }
    public func bindNull(_ index: Int32) throws { try check(sqlite3_bind_null(handle, index)) }

    /// Binds a string's UTF-8 bytes by their length (SQLite copies them), without making a C string.
    private func bindText(_ index: Int32, _ value: String) -> Int32 {
        var text = value
        return text.withUTF8 { bytes in
            // An empty text must still be text, not NULL: pass a non-nil pointer.
            let start = UnsafeRawPointer(bytes.baseAddress ?? ("" as StaticString).utf8Start)
            return sqlite3_bind_text(handle, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), SQLITE_TRANSIENT)
        }
    }

    /// Binds all values in order starting at parameter 1.
    public func bind(_ values: [Binding]) throws {
        for (i, v) in values.enumerated() { try bind(Int32(i + 1), v) }
    }

    /// Advances to the next row: true when a row is available, false when done.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteError(code: rc, message: database.lastErrorMessage, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Resets for another execution and clears the bindings.
    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Resets for another execution and keeps the bindings: for a caller that binds every
    /// parameter again before each step.
    public func resetKeepingBindings() {
        sqlite3_reset(handle)
    }

    /// Binds, runs to completion and resets: for INSERT/UPDATE/DELETE.
    public func run(_ values: [Binding] = []) throws {
        defer { reset() }
        try bind(values)
        while try step() {}
    }

    public var columnCount: Int32 { sqlite3_column_count(handle) }
    public func columnName(_ i: Int32) -> String { String(cString: sqlite3_column_name(handle, i)) }
    public func declaredType(_ i: Int32) -> String? { sqlite3_column_decltype(handle, i).map { String(cString: $0) } }

    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(handle, i) == SQLITE_NULL }
    public func int64(_ i: Int32) -> Int64 { sqlite3_column_int64(handle, i) }
    public func double(_ i: Int32) -> Double { sqlite3_column_double(handle, i) }

    public func text(_ i: Int32) -> String {
        guard let p = sqlite3_column_text(handle, i) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, i))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    public func blob(_ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(handle, i))
        guard n > 0, let p = sqlite3_column_blob(handle, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    /// The column as a ``Binding`` by its storage class.
    public func value(_ i: Int32) -> Binding {
        switch sqlite3_column_type(handle, i) {
        case SQLITE_INTEGER: .int(int64(i))
        case SQLITE_FLOAT: .double(double(i))
        case SQLITE_TEXT: .text(text(i))
        case SQLITE_BLOB: .blob(blob(i))
        default: .null
        }
    }

    private func check(_ rc: Int32) throws {
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: database.lastErrorMessage, sql: sql) }
    }
}
