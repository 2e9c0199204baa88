import DeltaCore

/// What the engine asks a sink to do to one document, in the store's own attribute names.
///
/// Invariant: `key` holds a value for every key attribute of the collection.
public struct DocumentPatch: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Set some attributes and remove others, creating the document if it does not exist.
        case upsert(set: [String: Value], unset: [String])
        /// Make the document exactly this content (created or restored by rule 6).
        case replace([String: Value])
        case delete
    }

    public var collection: String
    public var key: [String: Value]
    public var action: Action
    /// Rule 8: write only if the target still holds these values (nil = absent, or the row is
    /// missing when every expected value is nil). nil means an unconditional write (one-way flows).
    public var expected: [String: Value?]?

    public init(collection: String, key: [String: Value], action: Action, expected: [String: Value?]? = nil) {
        self.collection = collection
        self.key = key
        self.action = action
        self.expected = expected
    }

    /// Whether a key attribute or a written non-null attribute satisfies `predicate` — e.g. "the
    /// table has no such column" — checked without building a list of names.
    public func containsName(where predicate: (String) throws -> Bool) rethrows -> Bool {
        for name in key.keys where try predicate(name) { return true }
        switch action {
        case let .upsert(set, _):
            for (name, value) in set where value != .null { if try predicate(name) { return true } }
        case let .replace(document):
            for (name, value) in document where value != .null { if try predicate(name) { return true } }
        case .delete:
            break
        }
        return false
    }
}

/// The result of one patch, in the order the patches were given.
public enum PatchResult: Sendable, Equatable {
    case applied
    /// The guard of a conditional write did not hold: the target has a newer local edit that will
    /// arrive through its own stream (rule 8). Not an error.
    case guardFailed
    /// The store refused this document for good (a value it cannot hold, a constraint): it goes to
    /// the dead-letter table with this reason.
    case rejected(String)
}
