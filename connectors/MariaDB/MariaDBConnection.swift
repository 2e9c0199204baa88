import CMariaDB
import DeltaCore
import DeltaConnector

/// One libmariadb connection (`MYSQL *`) in the utf8mb4 character set: text-protocol queries
/// whose results are copied out as bytes, and the handle the binlog reader borrows.
///
/// Invariant: not thread-safe — used only from jobs on one ``BlockingWorker``; after ``close()``
/// every call throws a lost-connection error.
final class MariaDBConnection: @unchecked Sendable {
    private(set) var handle: UnsafeMutablePointer<MYSQL>?
    let url: MariaDBURL

    /// A copied query result: column names and types, rows of raw text-protocol values.
    struct Result: Sendable {
        struct Column: Sendable {
            var name: String
            /// `enum_field_types` code.
            var type: UInt32
            var charset: UInt32
            var flags: UInt32
        }
        var columns: [Column]
        var rows: [[[UInt8]?]]

        func text(_ row: Int, _ column: Int) -> String? {
            guard row < rows.count, column < rows[row].count, let b = rows[row][column] else { return nil }
            return String(decoding: b, as: UTF8.self)
        }

        func index(of name: String) -> Int? { columns.firstIndex { $0.name.lowercased() == name.lowercased() } }
    }

    private init(handle: UnsafeMutablePointer<MYSQL>, url: MariaDBURL) {
        self.handle = handle
        self.url = url
    }

    deinit { close() }

    var isOpen: Bool { handle != nil }

    /// Connects (utf8mb4, session time zone UTC). `readTimeout` bounds each blocking read (s).
    /// `foundRows`: affected-row counts report matched rows (CLIENT_FOUND_ROWS), as guarded
    /// updates need.
    static func connect(_ url: MariaDBURL, database: String? = nil, readTimeout: UInt32 = 60, foundRows: Bool = false) throws(MariaDBServerError) -> MariaDBConnection {
        guard let h = mysql_init(nil) else { throw MariaDBServerError(code: 2008, message: "out of memory in mysql_init") }
        _ = deltabridge_mysql_option_uint(h, MYSQL_OPT_CONNECT_TIMEOUT, 10)
        _ = deltabridge_mysql_option_uint(h, MYSQL_OPT_READ_TIMEOUT, readTimeout)
        _ = deltabridge_mysql_option_uint(h, MYSQL_OPT_WRITE_TIMEOUT, 60)
        _ = deltabridge_mysql_option_string(h, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        let db = database ?? url.database
        let ok = url.user.withCString { user in
            withOptionalCString(url.password) { password in
                withOptionalCString(db) { dbName in
                    mysql_real_connect(h, url.host, user, password, dbName, url.port, nil, foundRows ? 2 : 0)
                }
            }
        }
        if ok == nil {
            let error = MariaDBConnection.error(of: h)
            mysql_close(h)
            throw error
        }
        let c = MariaDBConnection(handle: h, url: url)
        try c.exec("SET time_zone = '+00:00', sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES')")
        return c
    }

    private static func error(of h: UnsafeMutablePointer<MYSQL>) -> MariaDBServerError {
        MariaDBServerError(code: mysql_errno(h), sqlState: String(cString: mysql_sqlstate(h)), message: String(cString: mysql_error(h)))
    }

    private func liveHandle() throws(MariaDBServerError) -> UnsafeMutablePointer<MYSQL> {
        guard let handle else { throw MariaDBServerError(code: 2006, message: "the connection is closed") }
        return handle
    }

    func close() {
        if let handle { mysql_close(handle) }
        handle = nil
    }

    /// Runs a statement that returns no rows; the number of affected rows.
    @discardableResult
    func exec(_ sql: String) throws(MariaDBServerError) -> UInt64 {
        let h = try liveHandle()
        var text = sql
        let rc = text.withUTF8 { buf in buf.withMemoryRebound(to: CChar.self) { mysql_real_query(h, $0.baseAddress, UInt($0.count)) } }
        if rc != 0 { throw failure(h) }
        if let result = mysql_store_result(h) { mysql_free_result(result) }
        return mysql_affected_rows(h)
    }

    /// `body`'s value or its server error, as a `Result` (typed `catch … where` clauses crash the
    /// Swift 6.3 compiler in some functions).
    func result<T>(_ body: () throws(MariaDBServerError) -> T) -> Swift.Result<T, MariaDBServerError> {
        do {
            return .success(try body())
        } catch {
            return .failure(error)
        }
    }

    /// Runs a statement; its error, or nil when it succeeded.
    func attempt(_ sql: String) -> MariaDBServerError? {
        do {
            try exec(sql)
            return nil
        } catch {
            return error
        }
    }

    /// Runs a query and copies its result.
    func query(_ sql: String) throws(MariaDBServerError) -> Result {
        let h = try liveHandle()
        var text = sql
        let rc = text.withUTF8 { buf in buf.withMemoryRebound(to: CChar.self) { mysql_real_query(h, $0.baseAddress, UInt($0.count)) } }
        if rc != 0 { throw failure(h) }
        guard let result = mysql_store_result(h) else {
            if mysql_field_count(h) != 0 { throw failure(h) }
            return Result(columns: [], rows: [])
        }
        defer { mysql_free_result(result) }
        let count = Int(mysql_num_fields(result))
        var columns: [Result.Column] = []
        if let fields = mysql_fetch_fields(result) {
            for i in 0..<count {
                let f = fields[i]
                columns.append(Result.Column(name: String(cString: f.name), type: f.type.rawValue, charset: f.charsetnr, flags: f.flags))
            }
        }
        var rows: [[[UInt8]?]] = []
        rows.reserveCapacity(Int(mysql_num_rows(result)))
        while let row = mysql_fetch_row(result) {
            guard let lengths = mysql_fetch_lengths(result) else { break }
            var values: [[UInt8]?] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                if let p = row[i] {
                    values.append(Array(UnsafeRawBufferPointer(start: p, count: Int(lengths[i]))))
                } else {
                    values.append(nil)
                }
            }
            rows.append(values)
        }
        if mysql_errno(h) != 0 { throw failure(h) }
        return Result(columns: columns, rows: rows)
    }

    /// The first column of the first row as text (nil for no row or NULL).
    func scalar(_ sql: String) throws(MariaDBServerError) -> String? {
        try query(sql).text(0, 0)
    }

    private func failure(_ h: UnsafeMutablePointer<MYSQL>) -> MariaDBServerError {
        let e = MariaDBConnection.error(of: h)
        if e.connectionLost { close() }
        return e
    }

    /// The server's version number (e.g. 101119).
    var serverVersion: UInt {
        guard let handle else { return 0 }
        return mysql_get_server_version(handle)
    }
}

private func withOptionalCString<T>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
