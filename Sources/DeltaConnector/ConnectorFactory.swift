import DeltaCore

/// The settings of one store from a pipeline file, after `${ENV}` interpolation, with what is
/// needed to report errors precisely (file and line) and to resolve relative paths.
public struct StoreSettings: Sendable {
    public var name: StoreID
    public var type: String
    public var values: [String: String]
    /// Folder of the pipeline file; relative paths in settings are resolved against it.
    public var baseDirectory: String
    /// `file:line` of the store's entry, for messages.
    public var location: String
    /// The pipeline's `batch_size`: a source hands out streamed changes in batches of at most
    /// this many (a larger transaction in parts).
    public var batchSize: Int

    public init(name: StoreID, type: String, values: [String: String], baseDirectory: String, location: String,
                batchSize: Int = 1000) {
        self.name = name
        self.type = type
        self.values = values
        self.baseDirectory = baseDirectory
        self.location = location
        self.batchSize = batchSize
    }

    /// A required setting, or a one-line error naming the store, the key and the fix.
    public func require(_ key: String, example: String) throws -> String {
        guard let v = values[key], !v.isEmpty else {
            throw ConnectorError(.permanent, "\(location): store '\(name)' (\(type)) needs '\(key)' — add e.g. `\(key): \(example)`")
        }
        return v
    }

    /// A path setting resolved against the pipeline file's folder.
    public func path(_ key: String, example: String) throws -> String {
        let raw = try require(key, example: example)
        if raw.hasPrefix("/") || raw == ":memory:" { return raw }
        return baseDirectory + "/" + raw
    }
}

/// Builds the connectors of one store type (`sqlite`, `postgres`, ...); registered with the engine.
public protocol ConnectorFactory: Sendable {
    /// The `type:` value in pipeline files.
    var type: String { get }
    /// The settings keys this store type accepts (unknown keys are an error in the pipeline file).
    var settingKeys: Set<String> { get }
    func makeSource(_ settings: StoreSettings) throws -> any SourceConnector
    func makeSink(_ settings: StoreSettings) throws -> any SinkConnector
}
