/// The identity of one store in a pipeline (the name given to it in the pipeline file).
///
/// It is the `origin` of every stamp issued for changes captured from that store, and orders
/// by its UTF-8 bytes so that the last component of a ``Stamp`` compares the same everywhere.
public struct StoreID: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String

    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }

    public var description: String { name }

    public static func < (lhs: StoreID, rhs: StoreID) -> Bool {
        utf8Less(lhs.name, rhs.name)
    }

    /// Byte-wise, consistent with `<` (canonically equivalent spellings are different names).
    public static func == (lhs: StoreID, rhs: StoreID) -> Bool { utf8Equal(lhs.name, rhs.name) }
    public func hash(into hasher: inout Hasher) { hashBytes(name, into: &hasher) }
}

/// A logical collection of documents shared by the stores of a flow (e.g. `customers`).
///
/// Each store maps it to its own table or collection; the ledger keys documents by namespace and key.
public struct Namespace: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String

    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }

    public var description: String { name }

    public static func < (lhs: Namespace, rhs: Namespace) -> Bool {
        utf8Less(lhs.name, rhs.name)
    }

    /// Byte-wise, consistent with `<` (canonically equivalent spellings are different names).
    public static func == (lhs: Namespace, rhs: Namespace) -> Bool { utf8Equal(lhs.name, rhs.name) }
    public func hash(into hasher: inout Hasher) { hashBytes(name, into: &hasher) }
}

/// An attribute (column, field) name after the pipeline's renames. Never empty: the ledger reserves
/// the empty name for document tombstones.
public typealias AttributeName = String
