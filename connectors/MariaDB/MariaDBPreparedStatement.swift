import CMariaDB

/// A server-side prepared statement (`MYSQL_STMT *`) of one ``MariaDBConnection``, executed with
/// bound ``MariaDBParameter``s (binary protocol: no quoting, no parsing per execution).
///
/// Invariants: used only on its connection's worker, and closed before the connection; the
/// parameter buffers live exactly as long as one ``execute(_:)``.
final class MariaDBPreparedStatement: @unchecked Sendable {
    private var handle: UnsafeMutablePointer<MYSQL_STMT>?
    let parameterCount: Int

    init(_ connection: MariaDBConnection, sql: String) throws(MariaDBServerError) {
        guard let mysql = connection.handle else { throw MariaDBServerError(code: 2006, message: "the connection is closed") }
        guard let stmt = mysql_stmt_init(mysql) else { throw MariaDBServerError(code: 2008, message: "out of memory in mysql_stmt_init") }
        var text = sql
        let rc = text.withUTF8 { buf in buf.withMemoryRebound(to: CChar.self) { mysql_stmt_prepare(stmt, $0.baseAddress, UInt($0.count)) } }
        if rc != 0 {
            let error = Self.error(stmt)
            mysql_stmt_close(stmt)
            throw error
        }
        handle = stmt
        parameterCount = Int(mysql_stmt_param_count(stmt))
    }

    deinit { close() }

    func close() {
        if let handle { mysql_stmt_close(handle) }
        handle = nil
    }

    private static func error(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) -> MariaDBServerError {
        MariaDBServerError(code: mysql_stmt_errno(stmt), sqlState: String(cString: mysql_stmt_sqlstate(stmt)), message: String(cString: mysql_stmt_error(stmt)))
    }

    /// Binds `parameters` (exactly ``parameterCount``) and executes; the affected rows.
    @discardableResult
    func execute(_ parameters: [MariaDBParameter]) throws(MariaDBServerError) -> UInt64 {
        guard let stmt = handle else { throw MariaDBServerError(code: 2006, message: "the statement is closed") }
        guard parameters.count == parameterCount else {
            throw MariaDBServerError(code: 2034, message: "\(parameters.count) parameters for a statement with \(parameterCount)")
        }
        var buffers: [UnsafeMutableRawPointer] = []
        buffers.reserveCapacity(parameters.count)
        defer { for b in buffers { b.deallocate() } }
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: parameters.count)
        func store(_ bytes: some Collection<UInt8>, _ i: Int, _ type: enum_field_types) {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 8)
            buffers.append(p)
            p.copyMemory(from: Array(bytes), byteCount: bytes.count)
            binds[i].buffer = p
            binds[i].buffer_length = UInt(bytes.count)
            binds[i].buffer_type = type
        }
        for (i, parameter) in parameters.enumerated() {
            switch parameter {
            case .null:
                binds[i].buffer_type = MYSQL_TYPE_NULL
            case let .int(v):
                let p = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
                buffers.append(p)
                p.storeBytes(of: v, as: Int64.self)
                binds[i].buffer = p
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
            case let .double(v):
                let p = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
                buffers.append(p)
                p.storeBytes(of: v, as: Double.self)
                binds[i].buffer = p
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
            case let .decimal(s):
                store(s.utf8, i, MYSQL_TYPE_NEWDECIMAL)
            case let .text(s):
                store(s.utf8, i, MYSQL_TYPE_STRING)
            case let .bytes(b):
                store(b, i, MYSQL_TYPE_BLOB)
            }
        }
        let failed = binds.withUnsafeMutableBufferPointer { bp -> Bool in
            if mysql_stmt_bind_param(stmt, bp.baseAddress) != 0 { return true }
            return mysql_stmt_execute(stmt) != 0
        }
        if failed { throw Self.error(stmt) }
        return mysql_stmt_affected_rows(stmt)
    }
}
