import DeltaConnector
import DeltaCore

/// Reads the changes of CouchDB databases (one per mapped collection): an `_all_docs` snapshot,
/// then each database's `_changes` feed (`style=all_docs`, `include_docs=true`,
/// `conflicts=true`) from the snapshot's `update_seq`. Positions are a JSON object of each
/// database's seq, kept verbatim (see ``CouchDBPosition``).
///
/// Deleted documents become tombstones, design documents are skipped unless `design_docs:
/// true`, revisions the bridge wrote are echoes, conflicted documents are merged and their
/// losing leaves deleted (``CouchDBConflictResolver``). CouchDB has no commit time: a change's
/// `commitTime` is when the bridge read it (or the mapping's `time` attribute is used).
///
/// Invariant: all HTTP calls run on a ``BlockingWorker`` (one per snapshot, stream and the
/// source's own lag/validation client).
public final class CouchDBSource: SourceConnector {
    public let store: StoreID
    public let config: CouchDBStoreConfig
    /// Documents per `_changes` page at most.
    public let batchLimit: Int

    let worker: BlockingWorker
    let client: CouchDBClient

    public init(config: CouchDBStoreConfig, batchLimit: Int = 1000) {
        self.store = config.store
        self.config = config
        self.batchLimit = batchLimit
        self.worker = BlockingWorker(label: "couchdb-source.\(config.store.name)")
        self.client = CouchDBClient(config: config)
    }

    public func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader {
        let worker = BlockingWorker(label: "couchdb-snapshot.\(config.store.name)")
        let client = CouchDBClient(config: config)
        let position = try await worker.run { () throws -> String in
            var p = CouchDBPosition()
            for c in collections { p.seqs[c.name] = try client.updateSeq(c.name) }
            return p.text
        }
        return CouchDBSnapshotReader(position: position, worker: worker, client: client)
    }

    public func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        let start: CouchDBPosition
        do {
            start = try CouchDBPosition(position, store: store.name)
        } catch {
            return AsyncThrowingStream { throw error }
        }
        let worker = BlockingWorker(label: "couchdb-stream.\(config.store.name)")
        let stream = CouchDBChangeStream(worker: worker, client: CouchDBClient(config: config), collections: collections,
                                         position: start, follow: follow, batchLimit: batchLimit)
        return AsyncThrowingStream(unfolding: { try await stream.nextBatch() })
    }
}
