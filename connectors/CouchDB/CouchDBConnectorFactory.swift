import DeltaConnector
import DeltaCore

/// Builds CouchDB sources and sinks from a pipeline's store settings (`type: couchdb`): `url`
/// (required, `http[s]://[user:password@]host:port[/prefix]`), `user`/`password` (override the
/// URL's), `auth` (`basic`, default, or `cookie`), `create` (create missing databases, default
/// false), `design_docs` (sync `_design/` documents, default false), `resolve_conflicts` (merge
/// CouchDB's conflicting leaves, default true), `ca_file` (CA bundle for HTTPS).
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct CouchDBConnectorFactory: ConnectorFactory {
    public let type = "couchdb"
    public let settingKeys: Set<String> = ["url", "user", "password", "auth", "create", "design_docs", "resolve_conflicts", "ca_file"]

    public init() {}

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        CouchDBSource(config: try config(settings), batchLimit: settings.batchSize)
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        CouchDBSink(config: try config(settings))
    }

    /// The store's settings checked and completed with their defaults.
    public func config(_ settings: StoreSettings) throws -> CouchDBStoreConfig {
        let prefix = "\(settings.location): store '\(settings.name)' (couchdb)"
        let url = try settings.require("url", example: "http://bridge:secret@localhost:5984")
        func optional(_ key: String) -> String? {
            guard let v = settings.values[key], !v.isEmpty else { return nil }
            return v
        }
        func flag(_ key: String, _ byDefault: Bool) throws -> Bool {
            guard let v = optional(key)?.lowercased() else { return byDefault }
            switch v {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw ConnectorError(.permanent, "\(prefix): '\(key)' must be true or false, not '\(v)' — e.g. `\(key): \(byDefault)`")
            }
        }
        let auth: CouchDBServer.Auth
        switch optional("auth")?.lowercased() ?? "basic" {
        case "basic": auth = .basic
        case "cookie": auth = .cookie
        case let other: throw ConnectorError(.permanent, "\(prefix): 'auth' must be basic or cookie, not '\(other)' — e.g. `auth: cookie`")
        }
        var caFile = optional("ca_file")
        if let ca = caFile, !ca.hasPrefix("/") { caFile = settings.baseDirectory + "/" + ca }
        var server: CouchDBServer
        switch CouchDBServer.parse(url, auth: auth, caFile: caFile) {
        case let .success(s): server = s
        case let .failure(problem):
            throw ConnectorError(.permanent, "\(prefix): 'url' is not a CouchDB URL (\(problem.reason)) — e.g. `url: http://bridge:secret@localhost:5984`")
        }
        if let user = optional("user") { server.user = user }
        if let password = settings.values["password"], !password.isEmpty { server.password = password }
        if server.auth == .cookie && server.user == nil {
            throw ConnectorError(.permanent, "\(prefix): 'auth: cookie' needs a user — put it in 'url' or set 'user' and 'password'")
        }
        return CouchDBStoreConfig(store: settings.name, server: server, create: try flag("create", false),
                                  designDocuments: try flag("design_docs", false), resolveConflicts: try flag("resolve_conflicts", true),
                                  location: settings.location)
    }
}
