import CCurl
import DeltaConnector

/// Builds CouchDB sources and sinks from a pipeline's store settings (`type: couchdb`).
///
/// Invariant: building a connector opens nothing; the server is first contacted when the engine
/// validates, snapshots, streams or applies.
public struct CouchDBConnectorFactory: ConnectorFactory {
    public let type = "couchdb"
    public let settingKeys: Set<String> = ["url"]

    public init() {}

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)': the CouchDB source is not built yet")
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)': the CouchDB sink is not built yet")
    }
}
