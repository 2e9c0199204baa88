import DeltaCore
import DeltaConnector

/// Writes document patches into MongoDB. Unconditional patches (one-way flows) go as unordered bulk
/// `update` commands per collection — `$set`/`$unset` with `upsert: true` for partial updates, a
/// replacement with `upsert: true` for whole documents — and bulk `delete`s. Conditional patches
/// (two-way flows, rule 8) go one by one with the guard values in the filter; a filter that no
/// longer matches is ``PatchResult/guardFailed``. A duplicate-key race on an upsert and write
/// conflicts are retried; other per-document write errors reject that document only.
///
/// The change stream marks nothing, so these writes come back as ordinary events, which the
/// engine recognises as echoes through its write records (rule 7).
///
/// Invariants: all libmongoc calls run on this sink's ``BlockingWorker``; a lost connection fails
/// the whole batch with a transient error (every write is idempotent, so a retry is harmless).
public final class MongoSink: SinkConnector {
    public let store: StoreID
    public let config: MongoStoreConfig

    let worker: BlockingWorker
    let state: MongoSinkState

    public init(config: MongoStoreConfig) {
        self.store = config.store
        self.config = config
        self.worker = BlockingWorker(label: "mongodb-sink.\(config.store.name)")
        self.state = MongoSinkState(config: config)
    }

    public func prepare(collections: [CollectionSpec]) async throws {
        let state = self.state
        try await worker.run { try state.prepare(collections) }
    }

    public func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult] {
        if patches.isEmpty { return [] }
        let state = self.state
        return try await worker.run { try state.apply(patches) }
    }

    public func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?] {
        if keys.isEmpty { return [] }
        let state = self.state
        return try await worker.run { try state.read(collection, keys: keys) }
    }
}
