#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The identity of a document within a ``Namespace``: one key value or several (composite key).
///
/// Identity is the ``canonical`` string, so the integer `42` from PostgreSQL and the string `"42"`
/// from CouchDB name the same document. A single key's canonical form is its plain text (usable as a
/// CouchDB `_id`); a composite key joins its parts with `|`, escaping `\` and `|` with a backslash.
/// The typed ``components`` are kept so that a sink can write the key back with its original type.
public struct DocumentKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let canonical: String
    /// The typed components: one value held as it is (most keys have one, and a key is copied
    /// with every document reference, so it allocates no array), or a composite key's values.
    private let storage: Storage

    private enum Storage: Sendable {
        case one(Value)
        case many([Value])
    }

    public init(_ components: [Value]) {
        precondition(!components.isEmpty, "a document key needs at least one component")
        if components.count == 1 {
            canonical = DocumentKey.text(of: components[0])
            storage = .one(components[0])
        } else {
            canonical = components.map { DocumentKey.escape(DocumentKey.text(of: $0)) }.joined(separator: "|")
            storage = .many(components)
        }
    }

    public init(_ single: Value) {
        canonical = DocumentKey.text(of: single)
        storage = .one(single)
    }

    /// A key known only by its canonical text (e.g. read back from the ledger); components are strings.
    public init(canonical: String, arity: Int = 1) {
        self.canonical = canonical
        storage = arity <= 1 ? .one(.string(canonical)) : .many(DocumentKey.split(canonical).map(Value.string))
    }

    /// Rebuilds a key from its canonical text plus the encoded typed components the ledger stores.
    public init(canonical: String, components: [Value]) {
        self.canonical = canonical
        storage = components.count == 1 ? .one(components[0]) : .many(components)
    }

    /// The typed components, in key order (an array made for a single-component key).
    public var components: [Value] {
        switch storage {
        case let .one(value): [value]
        case let .many(values): values
        }
    }

    /// How many components the key has.
    public var componentCount: Int {
        switch storage {
        case .one: 1
        case let .many(values): values.count
        }
    }

    /// The component at `index` (`0 ..< componentCount`), without making the array.
    public func component(_ index: Int) -> Value {
        switch storage {
        case let .one(value):
            precondition(index == 0, "component \(index) of a single-component key")
            return value
        case let .many(values):
            return values[index]
        }
    }

    public var description: String { canonical }

    public static func == (lhs: DocumentKey, rhs: DocumentKey) -> Bool { utf8Equal(lhs.canonical, rhs.canonical) }
    public func hash(into hasher: inout Hasher) { hashBytes(canonical, into: &hasher) }
    public static func < (lhs: DocumentKey, rhs: DocumentKey) -> Bool {
        utf8Less(lhs.canonical, rhs.canonical)
    }

    /// The text a key component contributes to the canonical form.
    public static func text(of value: Value) -> String {
        switch value {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .decimal(d): return d.description
        case let .double(d):
            if d == d.rounded(), abs(d) < 9.0e15 { return String(Int64(d)) }
            return "\(d)"
        case let .bool(b): return b ? "true" : "false"
        case let .timestamp(t): return Timestamps.iso8601(micros: t)
        case let .bytes(b): return Base64.encode(b)
        case .null: return ""
        case .array, .object: return value.description
        }
    }

    static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "|") || $0 == UInt8(ascii: "\\") }) else { return s }
        var out = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            if c == "|" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return String(out)
    }

    /// Splits a composite canonical key into its unescaped parts (by Unicode scalars, so a
    /// separator followed by a combining mark still separates).
    public static func split(_ canonical: String) -> [String] {
        var parts = [String]()
        var current = String.UnicodeScalarView()
        var escaped = false
        for c in canonical.unicodeScalars {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "|" {
                parts.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(c)
            }
        }
        parts.append(String(current))
        return parts
    }
}

/// Byte-wise string equality (canonically equivalent spellings differ), with a fast path.
@inlinable
public func utf8Equal(_ a: String, _ b: String) -> Bool {
    // The same representation (one small string's bytes, or one shared buffer) is the same text.
    if unsafeBitCast(a, to: (UInt64, UInt64).self) == unsafeBitCast(b, to: (UInt64, UInt64).self) { return true }
    guard a.utf8.count == b.utf8.count else { return false }
    var x = a
    var y = b
    return x.withUTF8 { px in y.withUTF8 { py in px.count == 0 || memcmp(px.baseAddress!, py.baseAddress!, px.count) == 0 } }
}

/// Byte-wise UTF-8 order of two strings (the order of every canonical encoding), with a fast path.
@inlinable
func utf8Less(_ a: String, _ b: String) -> Bool {
    var x = a
    var y = b
    return x.withUTF8 { px in
        y.withUTF8 { py in
            let n = min(px.count, py.count)
            if n > 0 {
                let c = memcmp(px.baseAddress!, py.baseAddress!, n)
                if c != 0 { return c < 0 }
            }
            return px.count < py.count
        }
    }
}

/// Hashes a string by its UTF-8 bytes, consistent with byte-wise equality.
@inlinable
func hashBytes(_ s: String, into hasher: inout Hasher) {
    var copy = s
    copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
}
