/// The portable kind of a column: what a source says about a column so that a sink of another
/// store type can create a missing table with a column that holds the same values.
public enum ColumnKind: String, Sendable, Hashable {
    case bool, int, double, decimal, string, bytes, timestamp, date, time, uuid, json
}

/// One column of a source table, as described for a sink that creates a missing table.
///
/// Invariant: `name` is the source store's own name (the engine renames it for the target);
/// `native` is the source's exact type, which a sink of the same store type may use as it is.
public struct ColumnDescription: Sendable, Hashable {
    public var name: String
    public var kind: ColumnKind
    public var nullable: Bool
    /// Digits and scale of an exact decimal when the source fixes them (`numeric(12,2)`).
    public var precision: Int?
    public var scale: Int?
    /// The source's store type (`postgres`, `sqlite`, ...) and its exact type text.
    public var native: (storeType: String, type: String)? {
        get { nativeType.map { (nativeStoreType, $0) } }
        set {
            nativeStoreType = newValue?.storeType ?? ""
            nativeType = newValue?.type
        }
    }
    private var nativeStoreType = ""
    private var nativeType: String?

    public init(name: String, kind: ColumnKind, nullable: Bool = true, precision: Int? = nil, scale: Int? = nil,
                native: (storeType: String, type: String)? = nil) {
        self.name = name
        self.kind = kind
        self.nullable = nullable
        self.precision = precision
        self.scale = scale
        self.native = native
    }
}

/// A source that can describe the columns of a collection (for `create: true` on a target).
public protocol CollectionDescribing: AnyObject, Sendable {
    /// The collection's columns in the store's order; throws a permanent error when it is missing.
    func describe(_ collection: CollectionSpec) async throws -> [ColumnDescription]
}

/// A sink that can create a missing table from a source's column descriptions.
public protocol CollectionCreating: AnyObject, Sendable {
    /// Creates the collection with `columns` (already in this store's names) and a primary key on
    /// its key attributes, unless it exists. Returns whether it created it.
    func createIfMissing(_ collection: CollectionSpec, columns: [ColumnDescription]) async throws -> Bool
}
