import CMongoC
import DeltaConnector

/// Builds MongoDB sources and sinks from a pipeline's store settings (`type: mongodb`).
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct MongoDBConnectorFactory: ConnectorFactory {
    public let type = "mongodb"
    public let settingKeys: Set<String> = ["url"]

    public init() {}

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)': the MongoDB source is not built yet")
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)': the MongoDB sink is not built yet")
    }
}
