import DeltaCore

/// What a source connector saw for one document: the raw material the engine turns into deltas.
///
/// Attribute names are the store's own (before the pipeline's renames). `attributes` always holds
/// the key attributes, also for deletes.
public struct RowChange: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        case upsert
        case delete
    }

    /// How much of the document `attributes` describes.
    public enum Image: Sendable, Equatable {
        /// The whole document: any attribute not present (and not in `unchanged`) is absent.
        case full
        /// Only the attributes present (and those in `removed`) changed; the rest are as before.
        case partial
    }

    /// The store's table or collection name, as in the pipeline's mapping.
    public var collection: String
    public var operation: Operation
    public var attributes: [String: Value]
    public var image: Image
    /// Attributes removed from the document (partial images: `$unset`, `removedFields`).
    public var removed: [String]
    /// Attributes known to be unchanged but not sent (PostgreSQL unchanged TOAST): never changes.
    public var unchanged: Set<String>
    /// The source's commit time in µs since the Unix epoch; nil when the store has none.
    public var commitTime: Int64?
    /// True when the store marks this change as written by the bridge itself (rule 7).
    public var isEcho: Bool
    /// True when the store cannot mark the bridge's writes (MongoDB): the engine then treats the
    /// change as an echo when it reports exactly what the bridge last wrote to this store and the
    /// ledger's winners are still those writes (rule 7).
    public var matchEchoes: Bool

    public init(collection: String, operation: Operation, attributes: [String: Value], image: Image = .full,
                removed: [String] = [], unchanged: Set<String> = [], commitTime: Int64? = nil, isEcho: Bool = false,
                matchEchoes: Bool = false) {
        self.collection = collection
        self.operation = operation
        self.attributes = attributes
        self.image = image
        self.removed = removed
        self.unchanged = unchanged
        self.commitTime = commitTime
        self.isEcho = isEcho
        self.matchEchoes = matchEchoes
    }
}

/// A run of changes that ends on a transaction boundary, with the position to resume after it.
///
/// Invariant: resuming from `position` delivers exactly the changes after this batch.
public struct SourceBatch: Sendable {
    public var changes: [RowChange]
    /// The source's opaque resume position after the last change (LSN, GTID set, token, seq).
    public var position: String
    /// True when, as this batch was read, the source had nothing newer: the flow is caught up.
    public var caughtUp: Bool

    public init(changes: [RowChange], position: String, caughtUp: Bool) {
        self.changes = changes
        self.position = position
        self.caughtUp = caughtUp
    }
}

/// One chunk of a snapshot read, in key order, with the cursor to continue after it.
public struct SnapshotChunk: Sendable {
    public var rows: [RowChange]
    /// Where the next chunk starts; nil when the collection has been read completely.
    public var cursor: String?

    public init(rows: [RowChange], cursor: String?) {
        self.rows = rows
        self.cursor = cursor
    }
}
