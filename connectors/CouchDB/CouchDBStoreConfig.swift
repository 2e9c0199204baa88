import DeltaConnector
import DeltaCore

/// The settings of one `type: couchdb` store after checking: the server, whether missing
/// databases may be created, whether design documents are synced, and whether the source
/// resolves CouchDB's own conflicts.
///
/// Invariant: `server.baseURL` is an http(s) URL without credentials.
public struct CouchDBStoreConfig: Sendable {
    public var store: StoreID
    public var server: CouchDBServer
    /// Create a mapped database that does not exist (validation and first use).
    public var create: Bool
    /// Sync `_design/` documents too (default: skipped).
    public var designDocuments: Bool
    /// Merge the leaves of a conflicted document and delete the losers (default: on).
    public var resolveConflicts: Bool
    /// How long one longpoll request waits for a change before polling again, in seconds.
    public var pollTimeout: Int
    /// `file:line` of the store's entry, for messages.
    public var location: String

    public init(store: StoreID, server: CouchDBServer, create: Bool = false, designDocuments: Bool = false,
                resolveConflicts: Bool = true, pollTimeout: Int = 2, location: String = "") {
        self.store = store
        self.server = server
        self.create = create
        self.designDocuments = designDocuments
        self.resolveConflicts = resolveConflicts
        self.pollTimeout = pollTimeout
        self.location = location
    }

    /// `CouchDB store 'x'`, for messages.
    var label: String { "CouchDB store '\(store)'" }

    /// The URL path of a database.
    static func path(_ database: String) -> String { "/" + CouchDBHTTP.segment(database) }

    /// The URL path of a document in a database.
    static func path(_ database: String, _ id: String) -> String {
        if id.hasPrefix("_design/") { return path(database) + "/_design/" + CouchDBHTTP.segment(String(id.dropFirst(8))) }
        if id.hasPrefix("_local/") { return path(database) + "/_local/" + CouchDBHTTP.segment(String(id.dropFirst(7))) }
        return path(database) + "/" + CouchDBHTTP.segment(id)
    }

    /// A query string from name/value pairs (values percent-encoded).
    static func query(_ items: [(String, String)]) -> String {
        items.isEmpty ? "" : "?" + items.map { "\($0.0)=\(CouchDBHTTP.segment($0.1))" }.joined(separator: "&")
    }
}
