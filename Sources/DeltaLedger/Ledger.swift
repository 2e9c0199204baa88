import DeltaCore

/// The bridge's own durable state: the latest version of every attribute, tombstones, optional
/// history, checkpoints, what the bridge last wrote to each store, and dead letters.
///
/// Invariant: ``commit(_:)`` is all or nothing, and merges deltas by the LWW rules inside its
/// transaction, so concurrent committers can never lose each other's updates and replays are
/// harmless. Implementations are thread-safe; their calls may block (keep them off the
/// cooperative thread pool).
public protocol Ledger: AnyObject, Sendable {
    /// The current state of each document (``DocumentState/unknown`` for never-seen keys).
    func states(_ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentKey: DocumentState]

    /// ``states(_:_:)`` aligned with `keys`, which must be distinct: one state per key, in order.
    func stateList(_ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentState]

    /// Atomically merges the batch's deltas and stores its write records, checkpoints and dead
    /// letters. Returns the merge outcome of every document the batch touched (none for the
    /// documents whose merged state the batch carries in `mergedStates`).
    @discardableResult
    func commit(_ batch: LedgerBatch) throws -> [DocumentRef: Merge.Outcome]

    /// The checkpoint saved for one (pipeline, scope), if any.
    func checkpoint(pipeline: String, scope: String) throws -> Checkpoint?

    /// Every checkpoint of a pipeline, ordered by scope.
    func checkpoints(pipeline: String) throws -> [Checkpoint]

    /// Removes checkpoints (used by `resync` to force a fresh snapshot).
    func deleteCheckpoints(pipeline: String, scopePrefix: String) throws

    /// Every delta recorded for the document, in stamp order (empty when history is off).
    func history(_ namespace: Namespace, _ key: DocumentKey) throws -> [Delta]

    /// What the bridge last wrote to `store` for each attribute of the document (rule 7 and 8).
    func writes(store: StoreID, _ namespace: Namespace, _ key: DocumentKey) throws -> [AttributeName: AttributeState]

    /// The last image `store` reported of each document (see ``StoreImage``); absent keys have none.
    func images(store: StoreID, _ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentKey: [AttributeName: Value]]

    /// ``images(store:_:_:)`` aligned with `keys`, which must be distinct (nil: no image).
    func imageList(store: StoreID, _ namespace: Namespace, _ keys: [DocumentKey]) throws -> [[AttributeName: Value]?]

    /// ``writes(store:_:_:)`` of several documents, aligned with `refs`.
    func writeList(store: StoreID, _ refs: [DocumentRef]) throws -> [[AttributeName: AttributeState]]

    /// Dead letters, newest first.
    func deadLetters(pipeline: String?, limit: Int) throws -> [DeadLetter]

    /// Keys of a namespace after `after` in the ledger's own order, at most `limit`: for paging
    /// through every document without loading them all. The order is total and stable, but only
    /// the ledger knows it (the SQLite ledger puts integer keys first, in numeric order).
    func keys(_ namespace: Namespace, after: DocumentKey?, limit: Int) throws -> [DocumentKey]

    /// Deletes documents whose tombstone is older than `cutoff` (µs) and that are not alive,
    /// with their history and write records. Returns how many documents were removed.
    func compactTombstones(olderThan cutoff: Int64) throws -> Int

    /// Counts for status displays.
    func statistics() throws -> LedgerStatistics
}

extension Ledger {
    public func stateList(_ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentState] {
        let states = try self.states(namespace, keys)
        return keys.map { states[$0] ?? DocumentState() }
    }

    public func imageList(store: StoreID, _ namespace: Namespace, _ keys: [DocumentKey]) throws -> [[AttributeName: Value]?] {
        let images = try self.images(store: store, namespace, keys)
        return keys.map { images[$0] }
    }

    public func writeList(store: StoreID, _ refs: [DocumentRef]) throws -> [[AttributeName: AttributeState]] {
        try refs.map { try writes(store: store, $0.namespace, $0.key) }
    }
}

/// Identifies one document across namespaces: the key of ``Ledger/commit(_:)``'s outcomes.
public struct DocumentRef: Sendable, Hashable, CustomStringConvertible {
    public let namespace: Namespace
    public let key: DocumentKey

    public init(_ namespace: Namespace, _ key: DocumentKey) {
        self.namespace = namespace
        self.key = key
    }

    public var description: String { "\(namespace)/\(key)" }
}

/// Sizes of the ledger's tables.
public struct LedgerStatistics: Sendable, Equatable {
    public var documents: Int
    public var attributes: Int
    public var tombstones: Int
    public var historyEntries: Int
    public var deadLetters: Int
}

/// Errors of a ledger, each naming what to do.
public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
