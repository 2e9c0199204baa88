import DeltaCore
import DeltaConnector

/// Called with a one-line warning (an unmapped column type, a TRUNCATE that is not replicated, a
/// slot dropped for a resync). The default writes to standard error.
public typealias PostgresWarningHandler = @Sendable (String) -> Void

/// The settings of one `type: postgres` store, with the names the connector derives from the
/// store name when they are not set: slot and publication `deltabridge_<store>`, replication
/// origin `deltabridge_<store>` (store name lower-cased, other characters than `a-z0-9_` as `_`).
///
/// Invariant: `slot` is a valid replication slot name (`[a-z0-9_]{1,63}`).
public struct PostgresStoreConfig: Sendable {
    public var store: StoreID
    /// libpq connection URI or key/value string.
    public var url: String
    public var slot: String
    public var publication: String
    /// The schema of collections named without one.
    public var schema: String
    /// The replication origin the sink's sessions use, which marks its writes as echoes.
    public var origin: String
    /// `file:line` of the store's entry, for messages.
    public var location: String
    public var warn: PostgresWarningHandler
    /// When set, a streaming source that has seen no change for this long (ms) upserts its row
    /// in `<schema>.deltabridge_heartbeat`, so the server's WAL position — and with it the slot's
    /// confirmed position — moves even when the watched tables are idle.
    public var heartbeatInterval: Int64?

    public init(store: StoreID, url: String, slot: String? = nil, publication: String? = nil, schema: String = "public",
                origin: String? = nil, location: String = "", warn: @escaping PostgresWarningHandler = PostgresStoreConfig.standardError) {
        self.store = store
        self.url = url
        let base = "deltabridge_" + PostgresStoreConfig.sanitized(store.name)
        self.slot = slot ?? String(base.prefix(63))
        self.publication = publication ?? String(base.prefix(63))
        self.schema = schema
        self.origin = origin ?? base
        self.location = location
        self.warn = warn
    }

    /// Lower-case letters, digits and `_`; anything else becomes `_`.
    static func sanitized(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.map { s -> Character in
            (s >= "a" && s <= "z") || (s >= "0" && s <= "9") || s == "_" ? Character(s) : "_"
        })
    }

    /// Whether `name` is a valid replication slot name.
    static func isValidSlotName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63 && name.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
    }

    /// The table a collection names.
    func table(_ collection: String) -> PostgresTableName {
        PostgresTableName(collection: collection, defaultSchema: schema)
    }

    /// `store 'x'` with the pipeline location, for messages.
    var label: String { "PostgreSQL store '\(store)'" }

    /// Writes a warning to standard error, prefixed with `deltabridge: warning:`.
    public static let standardError: PostgresWarningHandler = { message in
        let line = "deltabridge: warning: " + message + "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The heartbeat table (not published: its writes move WAL, they are not changes).
    var heartbeatTable: PostgresTableName { PostgresTableName(schema: schema, name: "deltabridge_heartbeat") }

    /// The message of a lost position, with the fix.
    func positionLost(_ what: String) -> ConnectorError {
        ConnectorError(.positionLost, "\(label): \(what); the changes after the saved position cannot be read any more — run `deltabridge resync <pipeline file> --flow <flow>` to take a new snapshot")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
