import DeltaConnector

/// Builds MariaDB sources and sinks from a pipeline's store settings: `type: mariadb` with `url`
/// (required, `mysql://user:password@host:port/database`), `server_id` (the replica id of the
/// binlog reader; default derived from the store name, server, database and the flow's tables) and `time_column`
/// (a DATETIME(6)/TIMESTAMP(6) column whose value stamps a change instead of the binlog time).
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct MariaDBConnectorFactory: ConnectorFactory {
    public let type = "mariadb"
    public let settingKeys: Set<String> = ["url", "server_id", "time_column"]
    let warn: MariaDBWarningHandler

    /// `warn` receives the connectors' warnings (default: standard error).
    public init(warn: @escaping MariaDBWarningHandler = MariaDBStoreConfig.standardError) {
        self.warn = warn
    }

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        MariaDBSource(config: try config(settings), batchLimit: settings.batchSize)
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        MariaDBSink(config: try config(settings))
    }

    /// The store's settings checked and completed with their defaults.
    public func config(_ settings: StoreSettings) throws -> MariaDBStoreConfig {
        let text = try settings.require("url", example: "mysql://bridge:secret@localhost:3306/app")
        let url: MariaDBURL
        switch MariaDBURL.parse(text) {
        case let .success(u): url = u
        case let .failure(e):
            throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)' (mariadb): 'url' is not a MariaDB URL (\(e.reason)) — e.g. `url: mysql://bridge:secret@localhost:3306/app`")
        }
        var serverID: UInt32?
        if let raw = settings.values["server_id"], !raw.isEmpty {
            guard let id = UInt32(raw), id > 0 else {
                throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)' (mariadb): server_id '\(raw)' is not a number 1…4294967295 — pick one no other server or replica uses, e.g. `server_id: 4101`")
            }
            serverID = id
        }
        let time = settings.values["time_column"].flatMap { $0.isEmpty ? nil : $0 }
        return MariaDBStoreConfig(store: settings.name, url: url, serverID: serverID, timeColumn: time, location: settings.location, warn: warn)
    }
}
