import DeltaCore
import DeltaConnector

/// Called with a one-line warning (an invalidated change stream, a dropped collection). The default
/// writes to standard error.
public typealias MongoWarningHandler = @Sendable (String) -> Void

/// The settings of one `type: mongodb` store: the connection string, the database (the URL's path
/// or `database`), the nesting mode, and the longest downtime the oplog must cover.
///
/// Invariant: `database` is non-empty; `maxDowntimeSeconds` > 0.
public struct MongoStoreConfig: Sendable {
    public var store: StoreID
    /// A MongoDB connection string (`mongodb://user:pass@host:27017/app?replicaSet=rs0`).
    public var url: String
    public var database: String
    public var nesting: MongoNesting
    /// `validate` warns when the oplog covers less than this (seconds).
    public var maxDowntimeSeconds: Int64
    /// `file:line` of the store's entry, for messages.
    public var location: String
    public var warn: MongoWarningHandler

    public init(store: StoreID, url: String, database: String, nesting: MongoNesting = .top, maxDowntimeSeconds: Int64 = 3600,
                location: String = "", warn: @escaping MongoWarningHandler = MongoStoreConfig.standardError) {
        self.store = store
        self.url = url
        self.database = database
        self.nesting = nesting
        self.maxDowntimeSeconds = maxDowntimeSeconds
        self.location = location
        self.warn = warn
    }

    var label: String { "MongoDB store '\(store)'" }

    /// Writes a warning to standard error, prefixed with `deltabridge: warning:`.
    public static let standardError: MongoWarningHandler = { message in
        let line = "deltabridge: warning: " + message + "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The message of a lost position, with the fix.
    func positionLost(_ what: String) -> ConnectorError {
        ConnectorError(.positionLost, "\(label): \(what); the changes after the saved position cannot be read any more — run `deltabridge resync <pipeline file> --flow <flow>` to take a new snapshot")
    }

    /// Parses `30s`, `15m`, `2h`, `7d` or a bare number of seconds.
    static func seconds(_ text: String) -> Int64? {
        let t = String(text.filter { !$0.isWhitespace }).lowercased()
        let units: [(String, Int64)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Int64(t.dropLast(suffix.count)), n > 0 else { return nil }
            return n * factor
        }
        guard let n = Int64(t), n > 0 else { return nil }
        return n
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
