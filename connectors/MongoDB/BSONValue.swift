/// One BSON value as it travels on the wire, before it is mapped to a store-neutral
/// `DeltaCore.Value`: every type the MongoDB wire protocol can carry in a document.
///
/// Invariant: documents keep their field order (a `[(key, value)]` list); `objectId` holds 12 bytes.
public enum BSONValue: Sendable, Equatable {
    case double(Double)
    case string(String)
    case document(BSONDocument)
    case array([BSONValue])
    case binary(subtype: UInt8, bytes: [UInt8])
    case undefined
    case objectId([UInt8])
    case bool(Bool)
    /// Milliseconds since the Unix epoch.
    case date(Int64)
    case null
    case regex(pattern: String, options: String)
    case javascript(String)
    case symbol(String)
    case int32(Int32)
    case timestamp(seconds: UInt32, increment: UInt32)
    case int64(Int64)
    /// IEEE 754-2008 decimal128 as its two 64-bit halves (BSON byte order: low then high).
    case decimal128(low: UInt64, high: UInt64)
    case minKey
    case maxKey
    /// A type the connector does not interpret (DBPointer, code with scope), with its type byte.
    case unsupported(UInt8)
}

/// A BSON document: its fields in order. Small documents are looked up by a linear scan.
///
/// Invariant: keys contain no NUL byte.
public struct BSONDocument: Sendable, Equatable {
    public var fields: [(String, BSONValue)]

    public init(_ fields: [(String, BSONValue)] = []) { self.fields = fields }

    public subscript(key: String) -> BSONValue? {
        get { fields.first { $0.0 == key }?.1 }
        set {
            if let i = fields.firstIndex(where: { $0.0 == key }) {
                if let newValue { fields[i].1 = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((key, newValue))
            }
        }
    }

    public static func == (a: BSONDocument, b: BSONDocument) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// The value at a dotted path through embedded documents (not arrays); nil when absent.
    public func value(atPath path: String) -> BSONValue? {
        var current: BSONValue = .document(self)
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case let .document(d) = current, let next = d[String(part)] else { return nil }
            current = next
        }
        return current
    }
}
