import DeltaConnector

/// Builds SQLite sources and sinks from a pipeline's store settings: `type: sqlite` with `path`
/// (required, relative to the pipeline file's folder), `busy_timeout_ms` (optional, default 5000)
/// and `init_sql` (optional SQL run before first use, creating the file if missing).
///
/// Invariant: building a connector opens nothing; the file is first touched when the engine
/// validates, snapshots, streams or applies.
public struct SQLiteConnectorFactory: ConnectorFactory {
    public let type = "sqlite"
    public let settingKeys: Set<String> = ["path", "busy_timeout_ms", "init_sql"]
    /// The busy timeout when `busy_timeout_ms` is not set.
    public static let defaultBusyTimeoutMilliseconds: Int32 = 5_000

    public init() {}

    public func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        SQLiteSource(store: settings.name, path: try settings.path("path", example: "data/app.sqlite"),
                     busyTimeoutMilliseconds: try busyTimeout(settings), initSQL: settings.values["init_sql"],
                     batchLimit: settings.batchSize)
    }

    public func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        SQLiteSink(store: settings.name, path: try settings.path("path", example: "data/app.sqlite"),
                   busyTimeoutMilliseconds: try busyTimeout(settings), initSQL: settings.values["init_sql"])
    }

    func busyTimeout(_ settings: StoreSettings) throws -> Int32 {
        guard let raw = settings.values["busy_timeout_ms"], !raw.isEmpty else { return Self.defaultBusyTimeoutMilliseconds }
        guard let ms = Int32(raw), ms >= 0 else {
            throw ConnectorError(.permanent, "\(settings.location): store '\(settings.name)' (sqlite): 'busy_timeout_ms' must be a whole number of milliseconds from 0 to 2147483647, not '\(raw)' — e.g. `busy_timeout_ms: 5000`")
        }
        return ms
    }
}
