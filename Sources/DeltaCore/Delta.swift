/// One attribute-level change or a document tombstone, with the stamp that versions it.
///
/// A delta is immutable and self-describing: merging the same delta twice has no further effect
/// (rule 9), and any set of deltas merges to the same state in any order (rule 10).
public struct Delta: Sendable, Hashable, CustomStringConvertible {
    /// What a delta does to its document.
    public enum Change: Sendable, Hashable {
        /// The attribute now holds `Value` (which may be `.null`, distinct from absent).
        case set(AttributeName, Value)
        /// The attribute is removed (absent field, `$unset`); a tombstone for one attribute.
        case unset(AttributeName)
        /// The whole document is deleted (rule 6).
        case tombstone

        /// The attribute touched, or nil for a document tombstone.
        public var attribute: AttributeName? {
            switch self {
            case let .set(a, _), let .unset(a): a
            case .tombstone: nil
            }
        }
    }

    public var namespace: Namespace
    public var key: DocumentKey
    public var change: Change
    public var stamp: Stamp

    public init(namespace: Namespace, key: DocumentKey, change: Change, stamp: Stamp) {
        self.namespace = namespace
        self.key = key
        self.change = change
        self.stamp = stamp
    }

    /// The origin store of this delta (the origin of its stamp).
    public var origin: StoreID { stamp.origin }

    public var description: String {
        let what: String
        switch change {
        case let .set(a, v): what = "\(a)=\(v)"
        case let .unset(a): what = "unset \(a)"
        case .tombstone: what = "tombstone"
        }
        return "\(namespace)/\(key) \(what) \(stamp)"
    }
}
