import DeltaCore

/// Reads a store's changes: a consistent snapshot first, then the change stream after it.
///
/// Implementations keep blocking client calls off Swift's cooperative pool (a thread of their own).
public protocol SourceConnector: AnyObject, Sendable {
    /// The store this connector reads.
    var store: StoreID { get }

    /// Opens a consistent snapshot of `collections`: the rows as of one instant and the stream
    /// position of that instant, so that ``changes(of:after:follow:)`` continues with no gap and
    /// no duplicate.
    func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader

    /// The changes after `position`, in source order, batched on transaction boundaries. With
    /// `follow` false the sequence finishes once it has caught up with the source's head.
    func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error>
}

/// The rows of an open snapshot, read in key-ordered chunks.
public protocol SnapshotReader: AnyObject, Sendable {
    /// The stream position at the snapshot's instant.
    var position: String { get }

    /// The next chunk of `collection` after `cursor` (nil: from the start), at most `limit` rows.
    func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk

    /// Rows in `collection` (an estimate is fine), for progress; nil when unknown.
    func estimatedCount(_ collection: CollectionSpec) async throws -> Int?

    /// Releases the snapshot (ends its transaction).
    func close() async
}

/// Writes documents into a store.
public protocol SinkConnector: AnyObject, Sendable {
    var store: StoreID { get }

    /// Applies the patches (at most one per document) and reports each result in order.
    /// Throwing means the whole batch failed for a transient reason (store down, lock timeout)
    /// and is retried; a permanently bad document is reported as ``PatchResult/rejected(_:)``.
    func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult]

    /// Tells the sink the collections it will write (with their key and JSON attributes) before
    /// the first ``apply(_:)``.
    func prepare(collections: [CollectionSpec]) async throws

    /// Reads the current content of documents (for two-way guards and CouchDB-style re-merges);
    /// nil for a missing document. Results in the order of `keys`.
    func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?]
}

/// How far a source's head is ahead of an applied position.
public struct SourceLag: Sendable, Equatable {
    public var head: String
    /// Changes between the applied position and the head, when the store can count them.
    public var eventsBehind: Int64?
    /// Bytes of log between them (PostgreSQL WAL), when meaningful.
    public var bytesBehind: Int64?

    public init(head: String, eventsBehind: Int64? = nil, bytesBehind: Int64? = nil) {
        self.head = head
        self.eventsBehind = eventsBehind
        self.bytesBehind = bytesBehind
    }
}

/// A source that can say how far behind its head an applied position is.
public protocol LagReporting: AnyObject, Sendable {
    func lag(of collections: [CollectionSpec], after position: String?) async throws -> SourceLag
}

/// A problem found by ``PrerequisiteValidating/validate(collections:asSource:asSink:)``: what is
/// wrong and the fix, as one line each.
public struct ValidationProblem: Sendable, Equatable, CustomStringConvertible {
    public var problem: String
    public var fix: String

    public init(problem: String, fix: String) {
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(problem) — fix: \(fix)" }
}

/// A connector that can check the store's prerequisites (settings, privileges, tables) up front.
public protocol PrerequisiteValidating: AnyObject, Sendable {
    func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem]
}

/// An error of a connector, classified so the engine knows whether retrying can help.
public struct ConnectorError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The store is unreachable, locked or busy: retry with backoff.
        case transient
        /// Configuration or prerequisite problem: stop the flow and tell the user the fix.
        case permanent
        /// The saved position no longer exists at the source: needs `deltabridge resync`.
        case positionLost
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// A source whose change log lives in the store and may be trimmed once the engine has
/// checkpointed past it (the SQLite connector's trigger-fed table).
public protocol ChangeLogPruning: AnyObject, Sendable {
    /// Deletes log entries at or before `position`; called only after that position is durable.
    /// Returns how many entries were removed.
    @discardableResult
    func prune(upTo position: String) async throws -> Int
}

/// A source whose server keeps a confirmed position of its own (PostgreSQL's replication slot):
/// the engine tells it each position once that position is durable in the ledger.
///
/// Invariant: the engine may ask the stream for its next batch before the previous one is
/// durable, so such a source reports as confirmed only acknowledged positions, never what it
/// merely handed out.
public protocol PositionAcknowledging: AnyObject, Sendable {
    /// Everything up to `position` (of a batch this source handed out) is durable. Never blocks.
    func acknowledge(_ position: String)
}
