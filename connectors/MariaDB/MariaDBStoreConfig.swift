import DeltaCore
import DeltaConnector

/// Called with a one-line warning (an unknown DDL, a table the stream cannot decode). The default
/// writes to standard error.
public typealias MariaDBWarningHandler = @Sendable (String) -> Void

/// The settings of one `type: mariadb` store: the connection URL, the replica `server_id` the
/// binlog reader announces (default: derived from the store name and the flow's tables, so that
/// every flow has its own), and an optional `time_column` whose `DATETIME(6)`/`TIMESTAMP(6)` value
/// stamps a change instead of the binlog's whole-second event time.
///
/// Invariant: `url.host` is non-empty; `serverID`, when set, is in 1…4294967295.
public struct MariaDBStoreConfig: Sendable {
    public var store: StoreID
    public var url: MariaDBURL
    public var serverID: UInt32?
    public var timeColumn: String?
    /// `file:line` of the store's entry, for messages.
    public var location: String
    public var warn: MariaDBWarningHandler

    public init(store: StoreID, url: MariaDBURL, serverID: UInt32? = nil, timeColumn: String? = nil, location: String = "",
                warn: @escaping MariaDBWarningHandler = MariaDBStoreConfig.standardError) {
        self.store = store
        self.url = url
        self.serverID = serverID
        self.timeColumn = timeColumn
        self.location = location
        self.warn = warn
    }

    /// `MariaDB store 'x'`, for messages.
    var label: String { "MariaDB store '\(store)'" }

    /// The replica server id of a stream over `collections`: the setting, or a hash of the store
    /// name, the server address and database and the table names in 1000000…2147483647 (clear of
    /// the small ids people give servers). Two readers with one id make the server drop one.
    func replicaServerID(for collections: [CollectionSpec]) -> UInt32 {
        if let serverID { return serverID }
        var hash: UInt32 = 2_166_136_261
        for byte in (store.name + "|" + url.host + ":" + String(url.port) + "/" + (url.database ?? "") + "|" + collections.map(\.name).sorted().joined(separator: ",")).utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return 1_000_000 + hash % 2_146_483_647
    }

    /// The table a collection names: `db.table`, or `table` in the URL's database.
    func table(_ collection: String) throws -> MariaDBTableName {
        if let dot = collection.firstIndex(of: ".") {
            return MariaDBTableName(database: String(collection[..<dot]), table: String(collection[collection.index(after: dot)...]))
        }
        guard let database = url.database else {
            throw ConnectorError(.permanent, "\(label): table '\(collection)' names no database and the url has none — write the table as `database.table`, or end the url with /database")
        }
        return MariaDBTableName(database: database, table: collection)
    }

    /// Writes a warning to standard error, prefixed with `deltabridge: warning:`.
    public static let standardError: MariaDBWarningHandler = { message in
        let line = "deltabridge: warning: " + message + "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// A failure of the server mapped to a connector error with the fix.
    func mapped(_ error: MariaDBServerError, doing: String) -> ConnectorError {
        if error.connectionLost {
            return ConnectorError(.transient, "\(label): cannot reach the server at \(url.host):\(url.port) while \(doing) (\(error.message)) — check that MariaDB is running and the url's host and port")
        }
        if error.code == 1045 || error.code == 1698 {
            return ConnectorError(.permanent, "\(label): the server refused user '\(url.user)' (\(error.message)) — fix the user or password in the url")
        }
        if error.code == 1049 {
            return ConnectorError(.permanent, "\(label): \(error.message) — create the database, or fix the database in the url")
        }
        if error.isAccessDenied {
            return ConnectorError(.permanent, "\(label): \(error.message) while \(doing) — GRANT the missing privilege to '\(url.user)' (a source needs SELECT, REPLICATION SLAVE, BINLOG MONITOR; a sink SELECT, INSERT, UPDATE, DELETE)")
        }
        if error.isTransient {
            return ConnectorError(.transient, "\(label): \(error.message) while \(doing); retrying")
        }
        return ConnectorError(.permanent, "\(label): \(error.message) while \(doing)")
    }

    /// The message of a lost position, with the fix.
    func positionLost(_ what: String) -> ConnectorError {
        ConnectorError(.positionLost, "\(label): \(what); the changes after the saved position cannot be read any more — run `deltabridge resync <pipeline file> --flow <flow>` to take a new snapshot (and keep binlogs longer: binlog_expire_logs_seconds)")
    }
}

/// A table as `database`.`table`.
struct MariaDBTableName: Sendable, Hashable, CustomStringConvertible {
    var database: String
    var table: String
    var sql: String { MariaDBSQL.ident(database) + "." + MariaDBSQL.ident(table) }
    var description: String { database + "." + table }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
