import DeltaConnector

/// Builds MongoDB sources and sinks from a pipeline's store settings: `type: mongodb` with `url`
/// (required, a MongoDB connection string), `database` (default: the URL's path), `nested`
/// (`top`, the default, or `paths`) and `max_downtime` (default `1h`: the oplog window
/// `deltabridge validate` requires).
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct MongoDBConnectorFactory: ConnectorFactory {
    public let type = "mongodb"
    public let settingKeys: Set<String> = ["url", "database", "nested", "max_downtime"]
    let warn: MongoWarningHandler

    /// `warn` receives the connectors' warnings (default: standard error).
    public init(warn: @escaping MongoWarningHandler = MongoStoreConfig.standardError) {
        self.warn = warn
        MongoClientLibrary.forgetSharedMemoryName()
    }

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        MongoSource(config: try config(settings), batchLimit: settings.batchSize)
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        MongoSink(config: try config(settings))
    }

    /// The store's settings checked and completed with their defaults.
    public func config(_ settings: StoreSettings) throws -> MongoStoreConfig {
        let prefix = "\(settings.location): store '\(settings.name)' (mongodb)"
        let url = try settings.require("url", example: "mongodb://bridge:secret@localhost:27017/app?replicaSet=rs0")
        let parsed: MongoURL
        do {
            parsed = try MongoURL.parse(url)
        } catch {
            throw ConnectorError(.permanent, "\(prefix): 'url' is not a valid MongoDB connection string (\(error.message)) — e.g. `url: mongodb://bridge:secret@localhost:27017/app?replicaSet=rs0`")
        }
        var database = parsed.database ?? ""
        if let d = settings.values["database"], !d.isEmpty { database = d }
        guard !database.isEmpty else {
            throw ConnectorError(.permanent, "\(prefix) needs a database — add `database: app`, or put it in the URL's path (mongodb://host:27017/app)")
        }
        var nesting = MongoNesting.top
        if let n = settings.values["nested"], !n.isEmpty {
            guard let m = MongoNesting(rawValue: n) else {
                throw ConnectorError(.permanent, "\(prefix): 'nested: \(n)' is not known — use `nested: top` (a top-level field is one attribute) or `nested: paths` (dotted paths are attributes)")
            }
            nesting = m
        }
        var downtime: Int64 = 3600
        if let d = settings.values["max_downtime"], !d.isEmpty {
            guard let s = MongoStoreConfig.seconds(d) else {
                throw ConnectorError(.permanent, "\(prefix): 'max_downtime: \(d)' is not a duration — e.g. `max_downtime: 6h` (s, m, h or d)")
            }
            downtime = s
        }
        return MongoStoreConfig(store: settings.name, url: url, database: database, nesting: nesting, maxDowntimeSeconds: downtime,
                                location: settings.location, warn: warn)
    }
}
