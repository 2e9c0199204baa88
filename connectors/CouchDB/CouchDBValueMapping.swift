import DeltaConnector
import DeltaCore

/// Maps between CouchDB documents and the engine's attributes.
///
/// Reading: every top-level member whose name does not start with `_` is an attribute (JSON
/// integers → `.int`, or `.decimal` beyond 64 bits; other numbers → `.double`; objects and
/// arrays as they are); `_id` is an attribute only when it is the mapping's key; `_rev`,
/// `_conflicts`, `_attachments` and the other `_` members are metadata. Writing: timestamps
/// become ISO 8601 strings, bytes base64 strings, decimals numbers (whole ones exactly, others
/// only when a double holds them, else refused).
///
/// Invariant: `json(v)` is the JSON value CouchDB will hold and send back for `v`, so guards and
/// no-op checks compare like with like.
enum CouchDBValueMapping {
    /// Why a value or a name cannot be written.
    struct Refusal: Error { let reason: String }

    /// The attributes of a document body.
    static func attributes(of doc: [String: Value], id: String, spec: CollectionSpec) -> [String: Value] {
        var out = [String: Value](minimumCapacity: doc.count)
        for (name, value) in doc where !name.hasPrefix("_") { out[name] = value }
        let key = spec.keyAttributes[0]
        if key == "_id" { out["_id"] = .string(id) } else if out[key] == nil { out[key] = keyValue(fromID: id) }
        return out
    }

    /// The key attributes of a deleted document (only its id is known).
    static func keyAttributes(id: String, spec: CollectionSpec) -> [String: Value] {
        let key = spec.keyAttributes[0]
        return [key: key == "_id" ? .string(id) : keyValue(fromID: id)]
    }

    /// A key attribute other than `_id` is stored both in the body and as the id's text; an id
    /// of decimal digits reads back as an integer.
    static func keyValue(fromID id: String) -> Value {
        if let i = Int64(id), String(i) == id { return .int(i) }
        return .string(id)
    }

    /// The document id for a patch's key.
    static func documentID(_ key: [String: Value], spec: CollectionSpec) throws(Refusal) -> String {
        let name = spec.keyAttributes[0]
        switch key[name] {
        case let .string(s)?:
            guard !s.isEmpty else { throw Refusal(reason: "key '\(name)' is empty; CouchDB needs a non-empty _id") }
            if s.hasPrefix("_") && !s.hasPrefix("_design/") {
                throw Refusal(reason: "key '\(name)' = \(JSONText.quote(s)) starts with '_', which CouchDB reserves for _design/ and _local/ ids")
            }
            return s
        case let .int(i)?: return String(i)
        case let v?: throw Refusal(reason: "key '\(name)' is a \(v.typeName) (\(v)); a CouchDB _id is text — use a text or integer key")
        case nil: throw Refusal(reason: "the patch has no value for key '\(name)'")
        }
    }

    /// The JSON value CouchDB holds for `value`.
    static func json(_ value: Value) throws(Refusal) -> Value {
        switch value {
        case .null, .bool, .int, .string: return value
        case let .double(d):
            guard d.isFinite else { throw Refusal(reason: "JSON cannot hold the double \(d)") }
            return value
        case let .decimal(d):
            let text = d.description
            if let i = Int64(text) { return .int(i) }
            if text.allSatisfy({ $0.isNumber || $0 == "-" }) { return value }
            if let x = Double(text), x.isFinite, ExactDecimal(String(x)) == d { return .double(x) }
            throw Refusal(reason: "the decimal \(text) has more precision than CouchDB's numbers (doubles) hold — exclude the attribute or store it as text at the source")
        case let .bytes(b): return .string(Base64.encode(b))
        case let .timestamp(t): return .string(Timestamps.iso8601(micros: t))
        case let .array(a):
            var out = [Value]()
            out.reserveCapacity(a.count)
            for v in a { out.append(try json(v)) }
            return .array(out)
        case let .object(o):
            var out = [String: Value](minimumCapacity: o.count)
            for (k, v) in o { out[k] = try json(v) }
            return .object(out)
        }
    }

    /// Checks that an attribute name may be a top-level member of a CouchDB document.
    static func checkName(_ name: String) throws(Refusal) {
        if name.hasPrefix("_") {
            throw Refusal(reason: "attribute '\(name)': CouchDB reserves top-level names starting with '_' — rename it in the mapping (rename: { \(name): \(name.drop { $0 == "_" }) })")
        }
    }

    /// A body with its metadata removed (for comparing content).
    static func content(_ doc: [String: Value]) -> [String: Value] {
        doc.filter { !$0.key.hasPrefix("_") || $0.key == "_id" || $0.key == "_attachments" }
    }
}
