import DeltaCore
import DeltaConnector

/// Reads a MariaDB server's changes: a consistent snapshot (`START TRANSACTION WITH CONSISTENT
/// SNAPSHOT` and its binlog GTID position), then the binlog from that GTID state as a replica
/// with its own server id, decoding row images itself. Positions are GTID states
/// (`gtid:0-1-42`); the stream resumes with `@slave_connect_state`.
///
/// Rows written by the sink (sessions with `skip_replication=1`) are delivered marked
/// ``RowChange/isEcho``. Change times are the binlog's whole-second event times (the engine's
/// clock orders changes within a second by binlog order), or `time_column` when set.
///
/// Invariants: all libmariadb calls run on a ``BlockingWorker``; resuming from a position delivers
/// exactly the transactions committed after it.
public final class MariaDBSource: SourceConnector {
    public let store: StoreID
    public let config: MariaDBStoreConfig
    /// Changes per batch at most; a larger transaction is handed out in parts.
    public let batchLimit: Int

    let worker: BlockingWorker
    let admin: MariaDBConnectionSlot

    public init(config: MariaDBStoreConfig, batchLimit: Int = 1000) {
        self.store = config.store
        self.config = config
        self.batchLimit = batchLimit
        self.worker = BlockingWorker(label: "mariadb-source.\(config.store.name)")
        self.admin = MariaDBConnectionSlot(config: config)
    }

    public func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader {
        let config = self.config
        let worker = BlockingWorker(label: "mariadb-snapshot.\(config.store.name)")
        let state = try await worker.run { try MariaDBSnapshotReader.State.open(config, collections) }
        return MariaDBSnapshotReader(worker: worker, state: state)
    }

    public func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        guard let start = MariaDBGTIDPosition(position) else {
            let error = config.positionLost("'\(position)' is not a MariaDB position (a GTID state such as gtid:0-1-42)")
            return AsyncThrowingStream { throw error }
        }
        let session: MariaDBBinlogSession
        do {
            session = try MariaDBBinlogSession(config: config, collections: collections, after: start, follow: follow, batchLimit: batchLimit)
        } catch {
            return AsyncThrowingStream { throw error }
        }
        let worker = BlockingWorker(label: "mariadb-stream.\(config.store.name)")
        let stream = MariaDBChangeStream(worker: worker, session: session)
        return AsyncThrowingStream(unfolding: { try await stream.next() })
    }
}

/// A lazily opened connection for occasional queries (lag, validation), reopened after it broke.
///
/// Invariant: used only from jobs on one worker.
final class MariaDBConnectionSlot: @unchecked Sendable {
    let config: MariaDBStoreConfig
    private var connection: MariaDBConnection?

    init(config: MariaDBStoreConfig) { self.config = config }

    func open() throws -> MariaDBConnection {
        if let connection, connection.isOpen { return connection }
        do {
            let c = try MariaDBConnection.connect(config.url)
            connection = c
            return c
        } catch {
            throw config.mapped(error, doing: "connecting")
        }
    }

    func close() {
        connection?.close()
        connection = nil
    }

    /// Runs `body` with the connection; a failure drops it so the next call reconnects.
    func with<T>(_ doing: String, _ body: (MariaDBConnection) throws(MariaDBServerError) -> T) throws -> T {
        let conn = try open()
        do {
            return try body(conn)
        } catch {
            if error.connectionLost { close() }
            throw config.mapped(error, doing: doing)
        }
    }
}
