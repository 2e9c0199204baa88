import CMariaDB
import DeltaConnector

/// Builds MariaDB sources and sinks from a pipeline's store settings (`type: mariadb`).
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct MariaDBConnectorFactory: ConnectorFactory {
    public let type = "mariadb"
    public let settingKeys: Set<String> = ["url"]

    public init() {}

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)': the MariaDB source is not built yet")
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)': the MariaDB sink is not built yet")
    }
}
