import DeltaConnector

/// Builds PostgreSQL sources and sinks from a pipeline's store settings: `type: postgres` with
/// `url` (required, a libpq URI such as `postgresql://bridge@db/app`), `slot` and `publication`
/// (default `deltabridge_<store>`), `schema` (default `public`) and `origin` (the replication
/// origin of the bridge's writes, default `deltabridge_<store>`) and `heartbeat_interval` (off by
/// default; e.g. `30s` makes an idle stream write to `<schema>.deltabridge_heartbeat`).
///
/// A slot serves one reader: when two flows read the same database, define it as two stores
/// (or give each its own `slot`), or each flow's snapshot would drop the other's slot.
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct PostgresConnectorFactory: ConnectorFactory {
    public let type = "postgres"
    public let settingKeys: Set<String> = ["url", "slot", "publication", "schema", "origin", "heartbeat_interval"]
    let warn: PostgresWarningHandler

    /// `warn` receives the connectors' warnings (default: standard error).
    public init(warn: @escaping PostgresWarningHandler = PostgresStoreConfig.standardError) {
        self.warn = warn
    }

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        PostgresSource(config: try config(settings), batchLimit: settings.batchSize)
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        PostgresSink(config: try config(settings))
    }

    /// The store's settings checked and completed with their defaults.
    public func config(_ settings: StoreSettings) throws -> PostgresStoreConfig {
        let url = try settings.require("url", example: "postgresql://bridge@localhost:5432/app")
        if let problem = PGConnection.checkURL(url) {
            throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)' (postgres): 'url' is not a valid libpq connection string (\(problem)) — e.g. `url: postgresql://bridge@localhost:5432/app`")
        }
        func optional(_ key: String) -> String? {
            guard let v = settings.values[key], !v.isEmpty else { return nil }
            return v
        }
        var config = PostgresStoreConfig(store: settings.name, url: url, slot: optional("slot"), publication: optional("publication"),
                                         schema: optional("schema") ?? "public", origin: optional("origin"),
                                         location: settings.location, warn: warn)
        if let text = optional("heartbeat_interval") {
            guard let micros = DurationText.parse(text), micros >= 1_000 else {
                throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)' (postgres): heartbeat_interval '\(text)' is not a duration of at least 1ms — e.g. `heartbeat_interval: 30s`")
            }
            config.heartbeatInterval = micros / 1_000
        }
        guard PostgresStoreConfig.isValidSlotName(config.slot) else {
            throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)' (postgres): slot name '\(config.slot)' is invalid — use 1 to 63 lower-case letters, digits and underscores, e.g. `slot: deltabridge_app`")
        }
        return config
    }
}
