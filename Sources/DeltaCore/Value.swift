/// A store-neutral attribute value: what a column, field or JSON member holds once decoded.
///
/// Equality is exact and byte-wise (strings compare by their UTF-8 bytes, doubles by their
/// canonical bit pattern, so `NaN == NaN` and `-0.0 == 0.0`), which keeps `==`, `hash(into:)`,
/// the total order of ``Value/compare(_:_:)`` and the canonical encoding consistent with each other.
public enum Value: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// An exact decimal number (SQL `numeric`, Decimal128), never rounded through binary floating point.
    case decimal(ExactDecimal)
    case string(String)
    case bytes([UInt8])
    /// Microseconds since 1970-01-01T00:00:00Z.
    case timestamp(Int64)
    case array([Value])
    /// A nested document. Key order carries no meaning: the canonical form sorts keys by UTF-8 bytes.
    case object([String: Value])

    /// The rank of each case in the total order: values of a lower rank sort first.
    public var typeRank: UInt8 {
        switch self {
        case .null: 0
        case .bool: 1
        case .int: 2
        case .double: 3
        case .decimal: 4
        case .string: 5
        case .bytes: 6
        case .timestamp: 7
        case .array: 8
        case .object: 9
        }
    }

    /// The name of the case, for messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int: "int"
        case .double: "double"
        case .decimal: "decimal"
        case .string: "string"
        case .bytes: "bytes"
        case .timestamp: "timestamp"
        case .array: "array"
        case .object: "object"
        }
    }

    /// `-0.0` folded into `0.0` and every NaN into one quiet NaN, so equal doubles share one bit pattern.
    @inlinable
    static func canonicalBits(_ d: Double) -> UInt64 {
        if d.isNaN { return Double.nan.bitPattern }
        if d == 0 { return 0 }
        return d.bitPattern
    }
}

extension Value: Equatable {
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return canonicalBits(a) == canonicalBits(b)
        case let (.decimal(a), .decimal(b)): return a == b
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.bytes(a), .bytes(b)): return a == b
        case let (.timestamp(a), .timestamp(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            // Keys compare by their UTF-8 bytes, like strings (a Swift dictionary lookup would
            // treat canonically equivalent spellings as one key).
            guard a.count == b.count else { return false }
            let ka = a.keys.sorted(by: utf8Less)
            let kb = b.keys.sorted(by: utf8Less)
            for (x, y) in zip(ka, kb) {
                guard x.utf8.elementsEqual(y.utf8), a[x]! == b[y]! else { return false }
            }
            return true
        default: return false
        }
    }
}

extension Value: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(typeRank)
        switch self {
        case .null: break
        case let .bool(b): hasher.combine(b)
        case let .int(i): hasher.combine(i)
        case let .double(d): hasher.combine(Value.canonicalBits(d))
        case let .decimal(d): hasher.combine(d)
        case let .string(s): hashBytes(s, into: &hasher)
        case let .bytes(b): hasher.combine(b)
        case let .timestamp(t): hasher.combine(t)
        case let .array(a): hasher.combine(a)
        case let .object(o):
            // Order-independent: combine per-entry hashes commutatively.
            var acc = 0
            for (k, v) in o {
                var h = Hasher()
                hashBytes(k, into: &h)
                h.combine(v)
                acc ^= h.finalize()
            }
            hasher.combine(o.count)
            hasher.combine(acc)
        }
    }
}

extension Value: CustomStringConvertible {
    /// A JSON-like rendering for logs and the CLI (`history`, dead letters). Not a parse format.
    public var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .double(d): return d.isFinite ? "\(d)" : "\"\(d)\""
        case let .decimal(d): return d.description
        case let .string(s): return JSONText.quote(s)
        case let .bytes(b): return "b64:" + Base64.encode(b)
        case let .timestamp(t): return JSONText.quote(Timestamps.iso8601(micros: t))
        case let .array(a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case let .object(o):
            let keys = o.keys.sorted(by: utf8Less)
            return "{" + keys.map { JSONText.quote($0) + ":" + o[$0]!.description }.joined(separator: ",") + "}"
        }
    }
}
