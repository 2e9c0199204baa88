import DeltaConnector

/// The store types a program knows: `type:` in a pipeline file → the factory of its connectors.
///
/// Invariant: one factory per type name.
public struct ConnectorRegistry: Sendable {
    public private(set) var factories: [String: any ConnectorFactory] = [:]

    public init(_ factories: [any ConnectorFactory] = []) {
        for f in factories { register(f) }
    }

    public mutating func register(_ factory: any ConnectorFactory) {
        factories[factory.type] = factory
    }

    /// Known type → accepted setting keys, as ``PipelineLoader`` validates them.
    public var storeTypes: [String: Set<String>] {
        factories.mapValues(\.settingKeys)
    }

    func factory(for settings: StoreSettings) throws -> any ConnectorFactory {
        guard let f = factories[settings.type] else {
            throw ConnectorError(.permanent, "\(settings.location): unknown store type '\(settings.type)' — use one of: \(factories.keys.sorted().joined(separator: ", "))")
        }
        return f
    }
}
