/// A store's table or collection as a flow maps it: its name, key attributes and type hints.
///
/// Attribute names are the store's own. Invariant: `keyAttributes` is non-empty.
public struct CollectionSpec: Sendable, Hashable {
    public var name: String
    public var keyAttributes: [String]
    /// Text attributes that hold JSON and are exchanged as objects/arrays (e.g. a SQLite TEXT column).
    public var jsonAttributes: Set<String>
    /// The pipeline asks for the table to be created from a source's columns when it is missing
    /// (`create: true`); validation then accepts a missing table.
    public var createIfMissing: Bool

    public init(name: String, keyAttributes: [String], jsonAttributes: Set<String> = [], createIfMissing: Bool = false) {
        precondition(!keyAttributes.isEmpty, "a collection needs key attributes")
        self.name = name
        self.keyAttributes = keyAttributes
        self.jsonAttributes = jsonAttributes
        self.createIfMissing = createIfMissing
    }
}
