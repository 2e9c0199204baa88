import DeltaCore

/// The mapping between BSON values and store-neutral ``DeltaCore/Value``s, both ways.
///
/// Values without a case of their own travel in a tagged form that maps back to the same BSON:
/// ObjectId as the string `$oid:<24 hex digits>`, a BSON Timestamp as `{"$timestamp": {"t", "i"}}`,
/// binary of a subtype other than generic as `{"$binary": {"base64", "subType": "04"}}` (MongoDB
/// Extended JSON, so it survives JSON columns), a regular
/// expression as `{"$regex", "$options"}`, MinKey/MaxKey as `{"$minKey": 1}` / `{"$maxKey": 1}`.
/// Int32 and Int64 both read as `.int`; an `.int` is written as Int32 when it fits, else Int64.
/// Dates hold milliseconds: a timestamp with sub-millisecond digits is written truncated.
///
/// Invariant: `bson(value(b)) == b` for every BSON value except Int64 values that fit in 32 bits,
/// `undefined` (read as null), symbols (strings), JavaScript code (strings) and decimal trailing
/// zeros (`1.50` reads as `1.5`).
public enum MongoValueMapping {
    /// The prefix of ObjectIds in text form.
    public static let objectIdPrefix = "$oid:"

    /// A BSON value as a store-neutral value.
    public static func value(_ bson: BSONValue) -> Value {
        switch bson {
        case let .double(d): return .double(d)
        case let .string(s): return .string(s)
        case let .document(d): return .object(object(d))
        case let .array(a): return .array(a.map(value))
        case let .binary(subtype, bytes):
            if subtype == 0 { return .bytes(bytes) }
            let sub = String(subtype, radix: 16)
            return .object(["$binary": .object(["base64": .string(Base64.encode(bytes)), "subType": .string(sub.count == 1 ? "0" + sub : sub)])])
        case .undefined, .null, .unsupported: return .null
        case let .objectId(id): return .string(objectIdPrefix + hex(id))
        case let .bool(b): return .bool(b)
        case let .date(ms): return .timestamp(ms &* 1000)
        case let .regex(pattern, options): return .object(["$regex": .string(pattern), "$options": .string(options)])
        case let .javascript(s), let .symbol(s): return .string(s)
        case let .int32(i): return .int(Int64(i))
        case let .timestamp(t, i): return .object(["$timestamp": .object(["t": .int(Int64(t)), "i": .int(Int64(i))])])
        case let .int64(i): return .int(i)
        case let .decimal128(low, high):
            let text = LibBSON.decimalText(low: low, high: high)
            if let d = ExactDecimal(text) { return .decimal(d) }
            return .string(text)
        case .minKey: return .object(["$minKey": .int(1)])
        case .maxKey: return .object(["$maxKey": .int(1)])
        }
    }

    /// A document's fields as an object.
    public static func object(_ d: BSONDocument) -> [String: Value] {
        var out = [String: Value](minimumCapacity: d.fields.count)
        for (k, v) in d.fields { out[k] = value(v) }
        return out
    }

    /// Why a value cannot be stored in MongoDB.
    public struct Unrepresentable: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// A store-neutral value as BSON.
    public static func bson(_ value: Value) throws(Unrepresentable) -> BSONValue {
        switch value {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .int(i):
            if let small = Int32(exactly: i) { return .int32(small) }
            return .int64(i)
        case let .double(d): return .double(d)
        case let .decimal(d):
            guard let (low, high) = LibBSON.decimal128(d.description) else {
                throw Unrepresentable(reason: "decimal \(d) has more than 34 significant digits or is out of Decimal128's range — round it in the source, or map the attribute to a string")
            }
            return .decimal128(low: low, high: high)
        case let .string(s):
            if let id = objectId(s) { return .objectId(id) }
            return .string(s)
        case let .bytes(b): return .binary(subtype: 0, bytes: b)
        case let .timestamp(us):
            let (q, r) = us.quotientAndRemainder(dividingBy: 1000)
            return .date(r < 0 ? q - 1 : q)
        case let .array(a):
            var out: [BSONValue] = []
            out.reserveCapacity(a.count)
            for v in a { out.append(try bson(v)) }
            return .array(out)
        case let .object(o):
            if let tagged = try tagged(o) { return tagged }
            return .document(try document(o))
        }
    }

    /// An object as a document, keys in byte order (so equal objects give equal bytes).
    public static func document(_ object: [String: Value]) throws(Unrepresentable) -> BSONDocument {
        var fields: [(String, BSONValue)] = []
        fields.reserveCapacity(object.count)
        for key in object.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            if key.utf8.contains(0) { throw Unrepresentable(reason: "field name \(key.debugDescription) contains a NUL character, which BSON cannot hold") }
            do {
                fields.append((key, try bson(object[key]!)))
            } catch {
                throw Unrepresentable(reason: "field '\(key)': \(error.reason)")
            }
        }
        return BSONDocument(fields)
    }

    /// The BSON of a tagged object (see the type's documentation), or nil for a plain object.
    private static func tagged(_ o: [String: Value]) throws(Unrepresentable) -> BSONValue? {
        guard let first = o.keys.first, first.hasPrefix("$") else { return nil }
        switch o.count {
        case 1:
            if case let .object(ts)? = o["$timestamp"], case let .int(t)? = ts["t"], case let .int(i)? = ts["i"], ts.count == 2,
               let t32 = UInt32(exactly: t), let i32 = UInt32(exactly: i) {
                return .timestamp(seconds: t32, increment: i32)
            }
            if case let .object(bin)? = o["$binary"], bin.count == 2, case let .string(b64)? = bin["base64"], case let .string(sub)? = bin["subType"],
               let bytes = Base64.decode(b64), let subtype = UInt8(sub, radix: 16) {
                return .binary(subtype: subtype, bytes: bytes)
            }
            if o["$minKey"] == .int(1) { return .minKey }
            if o["$maxKey"] == .int(1) { return .maxKey }
        case 2:
            if case let .string(p)? = o["$regex"], case let .string(opts)? = o["$options"] {
                return .regex(pattern: p, options: opts)
            }
        default:
            break
        }
        return nil
    }

    /// The 12 bytes of a tagged ObjectId string.
    public static func objectId(_ s: String) -> [UInt8]? {
        guard s.utf8.count == objectIdPrefix.utf8.count + 24, s.hasPrefix(objectIdPrefix) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(12)
        var high: UInt8?
        for c in s.utf8.dropFirst(objectIdPrefix.utf8.count) {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits a document into attributes: top-level fields (``MongoNesting/top``), or dotted paths
    /// to every non-document leaf (``MongoNesting/paths``; an empty document stays one attribute).
    public static func attributes(_ d: BSONDocument, nesting: MongoNesting) -> [String: Value] {
        guard nesting == .paths else { return object(d) }
        var out = [String: Value](minimumCapacity: d.fields.count)
        func walk(_ prefix: String, _ doc: BSONDocument) {
            for (k, v) in doc.fields {
                let path = prefix.isEmpty ? k : prefix + "." + k
                if case let .document(inner) = v, !inner.fields.isEmpty, !(prefix.isEmpty && k == "_id") {
                    walk(path, inner)
                } else {
                    out[path] = value(v)
                }
            }
        }
        walk("", d)
        return out
    }

    /// Rebuilds a document from attributes (dotted paths become embedded documents in paths mode).
    public static func document(attributes: [String: Value], nesting: MongoNesting) throws(Unrepresentable) -> BSONDocument {
        guard nesting == .paths else { return try document(attributes) }
        var tree = [String: Value]()
        for name in attributes.keys.sorted() {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            insert(&tree, parts[...], attributes[name]!)
        }
        return try document(tree)
    }

    private static func insert(_ tree: inout [String: Value], _ parts: ArraySlice<String>, _ value: Value) {
        guard let head = parts.first else { return }
        if parts.count == 1 {
            tree[head] = value
            return
        }
        var child: [String: Value] = [:]
        if case let .object(existing)? = tree[head] { child = existing }
        insert(&child, parts.dropFirst(), value)
        tree[head] = .object(child)
    }
}
