/// An error reported by libmariadb or the server: its error number, SQLSTATE and message, and
/// whether the connection is gone or a retry may succeed.
///
/// Invariant: `code` is the client/server error number (`mysql_errno`), 0 only for errors the
/// connector raises itself.
public struct MariaDBServerError: Error, Sendable, CustomStringConvertible {
    public var code: UInt32
    public var sqlState: String
    public var message: String

    public init(code: UInt32, sqlState: String = "HY000", message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    /// Client errors of a lost or refused connection (CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ...)
    /// and server shutdown / killed connections.
    public var connectionLost: Bool {
        [2002, 2003, 2005, 2006, 2013, 2026, 2055, 1053, 1077, 1927, 4031].contains(code)
    }

    /// Worth retrying: lost connections, lock wait timeouts, deadlocks, too many connections.
    public var isTransient: Bool {
        connectionLost || [1040, 1205, 1213, 1203, 1226].contains(code)
    }

    /// Access denied (wrong password, missing privilege).
    public var isAccessDenied: Bool {
        [1044, 1045, 1142, 1143, 1227, 1370, 1698].contains(code)
    }

    public var description: String { "error \(code) (\(sqlState)): \(message)" }
}
