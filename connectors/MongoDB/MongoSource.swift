import DeltaCore
import DeltaConnector

/// Reads a MongoDB database's changes: a snapshot of the mapped collections (read by `_id` after
/// noting the cluster time), then a change stream with `fullDocument: updateLookup` from that time
/// (`startAtOperationTime`), so documents changed during the snapshot arrive again and reconcile by
/// their stamps. Positions are ``MongoPosition`` texts; commit times are cluster times.
///
/// The stream carries no origin, so the bridge's own writes come back unmarked: the engine
/// recognises them against its write records (rule 7), which ``RowChange/matchEchoes`` asks for.
///
/// Invariants: all libmongoc calls run on ``BlockingWorker``s; resuming from a position delivers
/// every change after it (some possibly again, never fewer).
public final class MongoSource: SourceConnector {
    public let store: StoreID
    public let config: MongoStoreConfig
    /// Events per batch at most.
    public let batchLimit: Int

    let worker: BlockingWorker
    let admin: MongoConnectionSlot

    public init(config: MongoStoreConfig, batchLimit: Int = 1000) {
        self.store = config.store
        self.config = config
        self.batchLimit = batchLimit
        self.worker = BlockingWorker(label: "mongodb-source.\(config.store.name)")
        self.admin = MongoConnectionSlot(config: config)
        MongoEchoRegistry.shared.addReader(MongoEchoRegistry.scope(config))
    }

    deinit { MongoEchoRegistry.shared.removeReader(MongoEchoRegistry.scope(config)) }

    public func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader {
        let config = self.config
        let worker = BlockingWorker(label: "mongodb-snapshot.\(config.store.name)")
        let state = try await worker.run { try MongoSnapshotReader.State.open(config, collections) }
        return MongoSnapshotReader(worker: worker, state: state)
    }

    public func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        guard let start = MongoPosition(position) else {
            let error = config.positionLost("'\(position)' is not a MongoDB position (ts:SECONDS.INCREMENT or a resume token)")
            return AsyncThrowingStream { throw error }
        }
        let worker = BlockingWorker(label: "mongodb-stream.\(config.store.name)")
        let session = MongoStreamSession(config: config, collections: collections, after: start, follow: follow, batchLimit: batchLimit)
        let stream = MongoChangeStream(worker: worker, session: session)
        return AsyncThrowingStream(unfolding: { try await stream.next() })
    }
}

/// A lazily opened client for occasional commands (lag, validation), reopened after it broke.
///
/// Invariant: used only from jobs on one worker.
final class MongoConnectionSlot: @unchecked Sendable {
    let config: MongoStoreConfig
    private var connection: MongoConnection?

    init(config: MongoStoreConfig) { self.config = config }

    func open() throws -> MongoConnection {
        if let connection { return connection }
        let c = try MongoConnection.connect(config)
        connection = c
        return c
    }

    func close() {
        connection?.close()
        connection = nil
    }

    /// Runs `body` with the client; a failure drops it so the next call reconnects.
    func with<T>(_ doing: String, _ body: (MongoConnection) throws(MongoServerError) -> T) throws -> T {
        let conn = try open()
        do {
            return try body(conn)
        } catch {
            close()
            throw conn.mapped(error, doing: doing)
        }
    }
}
