import DeltaCore

/// Everything one engine batch makes durable in a single ledger transaction.
///
/// Invariant: the checkpoints in a batch describe positions whose changes are all in the same
/// batch's deltas (or earlier batches), so a crash either keeps both or neither.
public struct LedgerBatch: Sendable {
    /// Deltas to merge (LWW per attribute; rule 2, 6, 9).
    public var deltas: [Delta] = []
    /// What the bridge wrote to target stores, for echo recognition (rule 7) and guards (rule 8).
    public var writes: [WriteRecord] = []
    public var checkpoints: [Checkpoint] = []
    public var deadLetters: [DeadLetter] = []
    /// The last image each source store reported of a document (nil: deleted there).
    public var images: [StoreImage] = []
    /// The states the writer already merged `deltas` into, starting from the states it read from
    /// this ledger under its single-writer lock; when set (one entry for every document with
    /// deltas), the ledger stores them as they are instead of reading and merging again, keeps
    /// `deltas` only as history, and `commit` returns no outcomes. Nil: the ledger merges.
    public var mergedDocuments: [MergedDocument]?

    public init(deltas: [Delta] = [], writes: [WriteRecord] = [], checkpoints: [Checkpoint] = [], deadLetters: [DeadLetter] = [],
                images: [StoreImage] = []) {
        self.deltas = deltas
        self.writes = writes
        self.checkpoints = checkpoints
        self.deadLetters = deadLetters
        self.images = images
    }

    public var isEmpty: Bool { deltas.isEmpty && writes.isEmpty && checkpoints.isEmpty && deadLetters.isEmpty && images.isEmpty }
}

/// A document's state after a batch, as its writer merged it (see ``LedgerBatch/mergedDocuments``).
public struct MergedDocument: Sendable {
    public var ref: DocumentRef
    public var state: DocumentState

    public init(ref: DocumentRef, state: DocumentState) {
        self.ref = ref
        self.state = state
    }
}

/// What one store last reported of a document, in its log order: the baseline its next change
/// is diffed against, so that a full row image whose other columns are merely stale (the store
/// has not yet received the bridge's newer write) changes only what its writer changed (rule 1).
public struct StoreImage: Sendable, Hashable {
    public var store: StoreID
    public var namespace: Namespace
    public var key: DocumentKey
    /// Logical attribute values; nil when the store deleted the document.
    public var image: [AttributeName: Value]?

    public init(store: StoreID, namespace: Namespace, key: DocumentKey, image: [AttributeName: Value]?) {
        self.store = store
        self.namespace = namespace
        self.key = key
        self.image = image
    }
}

/// One attribute the bridge wrote to a store: the value (nil = unset/removed) and the stamp of the
/// version written. An attribute name of `""` records a document-level write (a delete, or a
/// store-specific marker such as a CouchDB revision in `value`).
public struct WriteRecord: Sendable, Hashable {
    public var store: StoreID
    public var namespace: Namespace
    public var key: DocumentKey
    public var attribute: AttributeName
    public var value: Value?
    public var stamp: Stamp

    public init(store: StoreID, namespace: Namespace, key: DocumentKey, attribute: AttributeName, value: Value?, stamp: Stamp) {
        self.store = store
        self.namespace = namespace
        self.key = key
        self.attribute = attribute
        self.value = value
        self.stamp = stamp
    }
}

/// A resumable position of one source (or flow) of a pipeline, with the state that must move with it.
///
/// `position` is the source's own opaque text (LSN, GTID set, resume token, CouchDB seq): stored and
/// handed back verbatim. The hybrid clock state rides along so that a replay issues the same stamps.
public struct Checkpoint: Sendable, Equatable {
    public var pipeline: String
    /// What the position belongs to, e.g. `flow-name/store-name`.
    public var scope: String
    public var position: String
    public var clockTime: Int64
    public var clockCounter: UInt32
    /// Commit time (µs) of the last change applied from this position, for lag in seconds.
    public var appliedCommitTime: Int64?
    /// Total changes applied from this scope since it started (for events/s and events behind).
    public var appliedEvents: Int64
    /// When the checkpoint was written (µs, bridge clock).
    public var updatedAt: Int64
    /// Free-form connector state as JSON text (snapshot progress, table cursors, ...).
    public var extra: String?

    public init(pipeline: String, scope: String, position: String, clockTime: Int64 = .min, clockCounter: UInt32 = 0,
                appliedCommitTime: Int64? = nil, appliedEvents: Int64 = 0, updatedAt: Int64, extra: String? = nil) {
        self.pipeline = pipeline
        self.scope = scope
        self.position = position
        self.clockTime = clockTime
        self.clockCounter = clockCounter
        self.appliedCommitTime = appliedCommitTime
        self.appliedEvents = appliedEvents
        self.updatedAt = updatedAt
        self.extra = extra
    }
}

/// A change that can never be applied, kept with the reason instead of being dropped (DESIGN §5).
public struct DeadLetter: Sendable, Equatable {
    public var id: Int64?
    public var pipeline: String
    public var flow: String
    public var store: String
    public var namespace: String
    public var key: String
    public var reason: String
    /// The change as JSON-like text, enough to apply it by hand.
    public var payload: String
    public var createdAt: Int64

    public init(id: Int64? = nil, pipeline: String, flow: String, store: String, namespace: String, key: String,
                reason: String, payload: String, createdAt: Int64) {
        self.id = id
        self.pipeline = pipeline
        self.flow = flow
        self.store = store
        self.namespace = namespace
        self.key = key
        self.reason = reason
        self.payload = payload
        self.createdAt = createdAt
    }
}
