import CLibPQ
import DeltaCore
import DeltaConnector

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error the PostgreSQL server (or libpq) reported, with the fields the connector uses to
/// classify it and to name the table and column in messages.
///
/// Invariant: `sqlState` is the five-character SQLSTATE, or empty when the connection broke
/// without a server error (then `connectionLost` is true).
public struct PostgresServerError: Error, Sendable, CustomStringConvertible {
    public var sqlState: String
    public var message: String
    public var detail: String?
    public var hint: String?
    public var table: String?
    public var column: String?
    public var constraint: String?
    /// True when the connection is gone (socket closed, server shut down or crashed).
    public var connectionLost: Bool

    public init(sqlState: String, message: String, detail: String? = nil, hint: String? = nil, table: String? = nil,
                column: String? = nil, constraint: String? = nil, connectionLost: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.table = table
        self.column = column
        self.constraint = constraint
        self.connectionLost = connectionLost
    }

    public var description: String {
        var out = message
        if let detail, !detail.isEmpty { out += " (\(detail))" }
        if !sqlState.isEmpty { out += " [SQLSTATE \(sqlState)]" }
        return out
    }

    /// Errors that retrying later can cure: connection failures, shutdowns, lock and
    /// serialization conflicts, resources, objects in use (an active slot or origin).
    public var isTransient: Bool {
        if connectionLost || sqlState.isEmpty { return true }
        let cls = String(sqlState.prefix(2))
        if ["08", "58"].contains(cls) || (cls == "53" && sqlState != "53400") { return true }
        return ["40001", "40P01", "55P03", "55006", "57014", "57P01", "57P02", "57P03", "57P05"].contains(sqlState)
    }
}

/// One query result; frees the libpq result when released.
///
/// Invariant: only read on the worker that owns the connection that produced it (or after it,
/// since results do not depend on the connection once returned).
final class PGResult: @unchecked Sendable {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    var rowCount: Int { Int(PQntuples(handle)) }
    var columnCount: Int { Int(PQnfields(handle)) }
    func columnName(_ column: Int) -> String { String(cString: PQfname(handle, Int32(column))) }
    func columnType(_ column: Int) -> UInt32 { UInt32(PQftype(handle, Int32(column))) }

    /// The text of a cell; nil for SQL NULL.
    func value(_ row: Int, _ column: Int) -> String? {
        if PQgetisnull(handle, Int32(row), Int32(column)) != 0 { return nil }
        guard let p = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        return p.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// Calls `body` with the bytes of one value (nil for NULL), valid only during the call.
    func withValue<T>(_ row: Int, _ column: Int, _ body: (UnsafeBufferPointer<UInt8>?) -> T) -> T {
        if PQgetisnull(handle, Int32(row), Int32(column)) != 0 { return body(nil) }
        guard let p = PQgetvalue(handle, Int32(row), Int32(column)) else { return body(nil) }
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        return p.withMemoryRebound(to: UInt8.self, capacity: length) { body(UnsafeBufferPointer(start: $0, count: length)) }
    }

    /// Rows an INSERT/UPDATE/DELETE affected (`PQcmdTuples`), 0 when not reported.
    var affectedRows: Int {
        guard let p = PQcmdTuples(handle) else { return 0 }
        return Int(String(cString: p)) ?? 0
    }
}

/// One libpq connection (`PGconn`), normal or in logical replication mode, with the session
/// settings the value mapping needs (DateStyle ISO, TimeZone UTC, IntervalStyle postgres, UTF-8)
/// and `application_name=deltabridge`.
///
/// Invariant: used from one ``BlockingWorker`` at a time (libpq connections are not thread-safe);
/// hence `@unchecked Sendable`. After ``close()`` every call throws a connection-lost error.
final class PGConnection: @unchecked Sendable {
    private(set) var handle: OpaquePointer?
    /// True when opened with `replication=database`.
    let replication: Bool

    /// Session settings sent at connection start (`options`), so that text output matches what
    /// ``PostgresValueMapping`` parses.
    static let sessionOptions = "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres -c bytea_output=hex"

    private init(handle: OpaquePointer, replication: Bool) {
        self.handle = handle
        self.replication = replication
    }

    deinit { close() }

    /// Connects to `url` (a libpq URI or key/value string). Connection failures are transient
    /// unless the server refused for good (authentication, unknown database or role).
    static func connect(url: String, replication: Bool, store: StoreID) throws -> PGConnection {
        // Settings the user put in `options` (e.g. a search_path) are kept, ours come after them.
        let userOptions = option("options", in: url) ?? ""
        let options = userOptions.isEmpty ? sessionOptions : userOptions + " " + sessionOptions
        var keys = ["connect_timeout", "dbname", "application_name", "options", "client_encoding"]
        var values = ["10", url, "deltabridge", options, "UTF8"]
        if replication {
            keys.append("replication")
            values.append("database")
        }
        let conn: OpaquePointer? = withCStrings(keys) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else {
            throw ConnectorError(.transient, "PostgreSQL store '\(store)': out of memory while connecting")
        }
        if PQstatus(conn) != CONNECTION_OK {
            let message = trimmed(String(cString: PQerrorMessage(conn)))
            PQfinish(conn)
            let lower = message.lowercased()
            let permanent = lower.contains("authentication failed") || lower.contains("no pg_hba.conf entry")
                || (lower.contains("does not exist") && !lower.contains("starting up"))
                || lower.contains("invalid connection option") || lower.contains("invalid uri")
                || lower.contains("missing \"=\"") || lower.contains("password")
                || lower.contains("must be superuser or replication role") || lower.contains("permission denied")
            if permanent {
                throw ConnectorError(.permanent, "PostgreSQL store '\(store)': cannot connect (\(message)) — fix `url` (user, password, database) or the server's pg_hba.conf\(replication ? " (a `replication` line is needed for capture)" : "")")
            }
            throw ConnectorError(.transient, "PostgreSQL store '\(store)' is unreachable: \(message)")
        }
        return PGConnection(handle: conn, replication: replication)
    }

    /// The value of one parameter of a connection string, nil when absent or unparsable.
    static func option(_ keyword: String, in url: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = url.withCString({ PQconninfoParse($0, &error) }) else {
            if let error { PQfreemem(error) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var p = options
        while let key = p.pointee.keyword {
            if String(cString: key) == keyword { return p.pointee.val.map { String(cString: $0) } }
            p += 1
        }
        return nil
    }

    /// Checks a connection string without connecting; the libpq message when it is malformed.
    static func checkURL(_ url: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        let options = url.withCString { PQconninfoParse($0, &error) }
        if let options {
            PQconninfoFree(options)
            return nil
        }
        defer { if let error { PQfreemem(error) } }
        return error.map { trimmed(String(cString: $0)) } ?? "malformed connection string"
    }

    var isOpen: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }
    var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }
    var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    private func liveHandle() throws(PostgresServerError) -> OpaquePointer {
        guard let handle else { throw PostgresServerError(sqlState: "", message: "the connection is closed", connectionLost: true) }
        return handle
    }

    /// Runs one or more SQL statements (or a replication command) without parameters; throws the
    /// server's error. Returns the last statement's result.
    @discardableResult
    func exec(_ sql: String) throws(PostgresServerError) -> PGResult {
        let conn = try liveHandle()
        let result = sql.withCString { PQexec(conn, $0) }
        return try check(result, conn)
    }

    /// Runs one statement with text parameters (nil = NULL), results in text format.
    @discardableResult
    func exec(_ sql: String, _ parameters: [String?]) throws(PostgresServerError) -> PGResult {
        if parameters.isEmpty { return try exec(sql) }
        let conn = try liveHandle()
        let result: OpaquePointer? = withOptionalCStrings(parameters) { values in
            sql.withCString { PQexecParams(conn, $0, Int32(parameters.count), nil, values, nil, nil, 0) }
        }
        return try check(result, conn)
    }

    private func check(_ result: OpaquePointer?, _ conn: OpaquePointer) throws(PostgresServerError) -> PGResult {
        guard let result else { throw lostError(conn) }
        let r = PGResult(result)
        let status = PQresultStatus(result)
        if status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR {
            throw PGConnection.error(of: result, conn)
        }
        return r
    }

    private func lostError(_ conn: OpaquePointer) -> PostgresServerError {
        PostgresServerError(sqlState: "", message: PGConnection.trimmed(String(cString: PQerrorMessage(conn))), connectionLost: true)
    }

    static func error(of result: OpaquePointer, _ conn: OpaquePointer?) -> PostgresServerError {
        func field(_ code: UInt8) -> String? {
            guard let p = PQresultErrorField(result, Int32(code)) else { return nil }
            return String(cString: p)
        }
        let state = field(UInt8(ascii: "C")) ?? ""
        var message = field(UInt8(ascii: "M")) ?? trimmed(String(cString: PQresultErrorMessage(result)))
        if message.isEmpty, let conn { message = trimmed(String(cString: PQerrorMessage(conn))) }
        let lost = conn.map { PQstatus($0) != CONNECTION_OK } ?? false
        return PostgresServerError(sqlState: state, message: message, detail: field(UInt8(ascii: "D")), hint: field(UInt8(ascii: "H")),
                                   table: field(UInt8(ascii: "t")), column: field(UInt8(ascii: "c")),
                                   constraint: field(UInt8(ascii: "n")), connectionLost: lost || state.isEmpty)
    }

    // MARK: COPY BOTH (replication streaming)

    /// What one non-blocking read of the replication stream got.
    enum CopyRead {
        case data([UInt8])
        /// Nothing arrived before the deadline.
        case timeout
        /// The server ended the COPY; the error it sent, if any.
        case ended(PostgresServerError?)
    }

    /// Reads one CopyData message, waiting on the socket at most until `deadline` (a
    /// ``Monotonic`` time in ms; a past deadline only takes what has already arrived).
    func readCopyData(deadline: Int64) throws(PostgresServerError) -> CopyRead {
        let conn = try liveHandle()
        var polledOnce = false
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(conn, &buffer, 1)
            if n > 0, let buffer {
                let bytes = buffer.withMemoryRebound(to: UInt8.self, capacity: Int(n)) { Array(UnsafeBufferPointer(start: $0, count: Int(n))) }
                PQfreemem(buffer)
                return .data(bytes)
            }
            if n == -1 {
                var lastError: PostgresServerError?
                while let result = PQgetResult(conn) {
                    let status = PQresultStatus(result)
                    if status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE {
                        lastError = PGConnection.error(of: result, conn)
                    }
                    PQclear(result)
                    if status == PGRES_COPY_BOTH || status == PGRES_COPY_OUT { break }
                }
                return .ended(lastError ?? (PQstatus(conn) != CONNECTION_OK ? lostError(conn) : nil))
            }
            if n == -2 { throw lostError(conn) }
            // n == 0: nothing buffered; wait for the socket, then pull what arrived.
            let remaining = deadline - Monotonic.milliseconds()
            if remaining <= 0 && polledOnce { return .timeout }
            polledOnce = true
            var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(max(0, min(remaining, 1000))))
            if ready < 0 && errno != EINTR {
                throw PostgresServerError(sqlState: "", message: "poll() on the replication socket failed (errno \(errno))", connectionLost: true)
            }
            if PQconsumeInput(conn) == 0 { throw lostError(conn) }
        }
    }

    /// Sends one CopyData message and flushes it.
    func sendCopyData(_ bytes: [UInt8]) throws(PostgresServerError) {
        let conn = try liveHandle()
        let ok = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(conn, $0, Int32(buffer.count))
            }
        }
        guard ok == 1, PQflush(conn) == 0 else { throw lostError(conn) }
    }

    // MARK: COPY FROM STDIN

    /// Runs `COPY … FROM STDIN` (`sql`) and sends `data` (in the format `sql` names) as its input.
    func copyIn(_ sql: String, data: [UInt8]) throws(PostgresServerError) {
        try startCopyIn(sql)
        let failed: PostgresServerError? = data.withUnsafeBufferPointer { buffer in
            do throws(PostgresServerError) { try putCopyData(buffer) } catch { return error }
            return nil
        }
        if let failed { throw failed }
        try endCopyIn()
    }

    /// Starts `COPY … FROM STDIN` (`sql`): the connection then takes only ``putCopyData(_:)``
    /// until ``endCopyIn()``. The server inserts rows as their data arrives.
    func startCopyIn(_ sql: String) throws(PostgresServerError) {
        let conn = try liveHandle()
        guard let started = sql.withCString({ PQexec(conn, $0) }) else { throw lostError(conn) }
        let status = PQresultStatus(started)
        if status != PGRES_COPY_IN {
            defer { PQclear(started) }
            if status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE { throw PGConnection.error(of: started, conn) }
            throw PostgresServerError(sqlState: "", message: "the server did not start COPY FROM STDIN for `\(sql.prefix(80))`")
        }
        PQclear(started)
    }

    /// Sends data of the COPY in progress (libpq sends it on as its buffer fills).
    func putCopyData(_ buffer: UnsafeBufferPointer<UInt8>) throws(PostgresServerError) {
        let conn = try liveHandle()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let sent = base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { PQputCopyData(conn, $0, Int32(buffer.count)) }
        guard sent == 1 else { throw lostError(conn) }
    }

    /// Ends the COPY in progress and waits for its result: the server's error if it refused a row.
    func endCopyIn() throws(PostgresServerError) {
        let conn = try liveHandle()
        guard PQputCopyEnd(conn, nil) == 1 else { throw lostError(conn) }
        var failure: PostgresServerError?
        while let result = PQgetResult(conn) {
            let s = PQresultStatus(result)
            if failure == nil, s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE { failure = PGConnection.error(of: result, conn) }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    // MARK: Helpers

    static func trimmed(_ s: String) -> String {
        var out = Substring(s)
        while let last = out.last, last == "\n" || last == " " || last == "\r" { out = out.dropLast() }
        return String(out).replacingNewlines()
    }
}

extension String {
    /// Multi-line server messages as one line.
    func replacingNewlines() -> String {
        var out = ""
        var lastWasBreak = false
        for ch in self {
            if ch == "\n" || ch == "\r" {
                if !lastWasBreak { out += " " }
                lastWasBreak = true
            } else {
                out.append(ch)
                lastWasBreak = false
            }
        }
        return out
    }
}

/// A monotonic clock in milliseconds, for deadlines and status-update intervals.
enum Monotonic {
    static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Unix microseconds from the wall clock (for standby status updates).
    static func unixMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }
}

/// Calls `body` with a C array of C strings (NUL-terminated copies), freed afterwards; the array
/// itself ends with a NULL entry, as `PQconnectdbParams` expects.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings.map { Optional($0) } + [nil], body)
}

/// Calls `body` with a C array of C strings where nil entries are NULL pointers.
func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { s in s.map { strdup($0)! } }
    defer { for p in copies { free(p) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Quoting of SQL identifiers and literals (standard_conforming_strings on, as since 9.1).
enum PostgresSQL {
    /// `"name"` with embedded quotes doubled.
    static func ident(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    /// A schema-qualified table name.
    static func table(_ table: PostgresTableName) -> String {
        ident(table.schema) + "." + ident(table.name)
    }

    /// `'text'` with embedded quotes doubled (NUL characters are removed; PostgreSQL text cannot hold them).
    static func literal(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "''").replacingAll("\0", with: "") + "'"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for ch in self {
            if ch == target { out += replacement } else { out.append(ch) }
        }
        return out
    }
}

/// A table as the connector addresses it: schema and name, both exact (case-sensitive).
public struct PostgresTableName: Sendable, Hashable, CustomStringConvertible {
    public var schema: String
    public var name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    /// A collection name as in the pipeline's mapping: `table` (in `defaultSchema`) or `schema.table`.
    public init(collection: String, defaultSchema: String) {
        if let dot = collection.firstIndex(of: ".") {
            schema = String(collection[..<dot])
            name = String(collection[collection.index(after: dot)...])
        } else {
            schema = defaultSchema
            name = collection
        }
    }

    public var description: String { schema == "public" ? name : "\(schema).\(name)" }
}
