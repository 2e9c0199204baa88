import DeltaCore
import DeltaConnector
import Synchronization

/// Reads a PostgreSQL database's changes over logical replication with the built-in `pgoutput`
/// plugin: a snapshot exported by the slot's creation, then the slot's stream from that point.
/// Positions are commit end LSNs as text (`0/16B3748`).
///
/// Creates its publication (`FOR TABLE` the mapped tables) and slot when missing; a snapshot
/// request (first run, or after `deltabridge resync`) drops and re-creates an existing slot.
/// Transactions of the sink's replication origin are delivered marked ``RowChange/isEcho``.
/// TRUNCATE is not replicated (a warning says so): pgoutput sends no rows for it.
///
/// Invariants: all libpq calls run on a ``BlockingWorker``; resuming from a position delivers
/// exactly the transactions committed after it (some possibly again, never fewer); the slot is
/// only told to release WAL up to what the engine has checkpointed.
public final class PostgresSource: SourceConnector, PositionAcknowledging {
    public let store: StoreID
    public let config: PostgresStoreConfig
    /// Changes per batch at most; a larger transaction is handed out in parts.
    public let batchLimit: Int

    let worker: BlockingWorker
    let admin: PostgresConnectionSlot
    /// Positions the engine has made durable: what the slot may be told it can release.
    let acknowledgement = PostgresAcknowledgement()

    public init(config: PostgresStoreConfig, batchLimit: Int = 1000) {
        self.store = config.store
        self.config = config
        self.batchLimit = batchLimit
        self.worker = BlockingWorker(label: "postgres-source.\(config.store.name)")
        self.admin = PostgresConnectionSlot(config: config)
    }

    public func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader {
        let config = self.config
        let worker = BlockingWorker(label: "postgres-snapshot.\(config.store.name)")
        let state = try await worker.run { try PostgresSnapshotReader.State.open(config, collections) }
        return PostgresSnapshotReader(worker: worker, state: state, config: config)
    }

    public func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        guard let start = PostgresPosition(position) else {
            let error = config.positionLost("'\(position)' is not a PostgreSQL position (an LSN such as 0/16B3748)")
            return AsyncThrowingStream { throw error }
        }
        let worker = BlockingWorker(label: "postgres-stream.\(config.store.name)")
        let session = PostgresReplicationSession(config: config, collections: collections, after: start, follow: follow, batchLimit: batchLimit,
                                                 acknowledgement: acknowledgement)
        let stream = PostgresChangeStream(worker: worker, session: session)
        return AsyncThrowingStream(unfolding: { try await stream.next() })
    }
}

extension PostgresSource {
    public func acknowledge(_ position: String) {
        guard let p = PostgresPosition(position) else { return }
        acknowledgement.advance(to: p.lsn)
    }
}

/// The newest commit LSN the engine has made durable, shared between the engine's task and the
/// stream's worker thread; it only moves forward.
final class PostgresAcknowledgement: Sendable {
    private let value = Mutex(LSN.invalid)

    var position: LSN { value.withLock { $0 } }

    func advance(to lsn: LSN) {
        value.withLock { if lsn > $0 { $0 = lsn } }
    }
}

/// A lazily opened normal connection for occasional queries (lag, validation), reopened after
/// it broke.
///
/// Invariant: used only from jobs on one worker.
final class PostgresConnectionSlot: @unchecked Sendable {
    let config: PostgresStoreConfig
    private var connection: PGConnection?

    init(config: PostgresStoreConfig) { self.config = config }

    func open() throws -> PGConnection {
        if let connection, connection.isOpen { return connection }
        connection?.close()
        let c = try PGConnection.connect(url: config.url, replication: false, store: config.store)
        connection = c
        return c
    }

    func close() {
        connection?.close()
        connection = nil
    }

    /// Runs `body` with the connection; a transient failure drops it so the next call reconnects.
    func with<T>(_ doing: String, _ body: (PGConnection) throws(PostgresServerError) -> T) throws -> T {
        let conn = try open()
        do {
            return try body(conn)
        } catch {
            if error.connectionLost { close() }
            throw PostgresAdmin.mapped(error, config, doing: doing)
        }
    }
}
