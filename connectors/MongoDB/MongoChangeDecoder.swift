import DeltaCore
import DeltaConnector

/// Turns change stream events (decoded BSON) into ``RowChange``s: inserts and replaces as full
/// images from `fullDocument`; updates as partial images straight from
/// `updateDescription.updatedFields` / `removedFields`; deletes with the `_id` of `documentKey`.
///
/// With ``MongoNesting/top`` a dotted updated or removed path changes its top-level field, whose
/// value comes from `fullDocument` (the update lookup). With ``MongoNesting/paths`` a dotted path is
/// an attribute itself; a path through an array index, or an updated field whose value is a
/// non-empty document, and any update that removes fields, use `fullDocument` instead (as a full
/// image), because only the whole document tells which sub-paths disappeared.
///
/// Invariant: pure (no I/O), so it is tested on captured events; the commit time of every change is
/// the event's `clusterTime` in µs (``MongoClusterTime/micros``).
public struct MongoChangeDecoder: Sendable {
    public let nesting: MongoNesting
    public let collections: Set<String>

    public init(nesting: MongoNesting, collections: Set<String>) {
        self.nesting = nesting
        self.collections = collections
    }

    /// What one event means for the source.
    public enum Outcome: Sendable, Equatable {
        case change(RowChange)
        /// The stream ended (collection dropped or renamed, database dropped): reopen with `startAfter`.
        case invalidate
        /// A collection was dropped or renamed (`drop`, `rename`, `dropDatabase`): reported, no deltas.
        case collectionEvent(String)
        /// Another collection, or an event type that carries no document change.
        case ignored
    }

    /// An event's outcome, its cluster time and its resume token.
    public func decode(_ event: BSONDocument) throws -> (Outcome, MongoClusterTime?, BSONDocument?) {
        var time: MongoClusterTime?
        if case let .timestamp(t, i)? = event["clusterTime"] { time = MongoClusterTime(seconds: t, increment: i) }
        var token: BSONDocument?
        if case let .document(d)? = event["_id"] { token = d }
        guard case let .string(op)? = event["operationType"] else {
            throw BSONError(offset: 0, reason: "change event without operationType")
        }
        var collection: String?
        if case let .document(ns)? = event["ns"], case let .string(c)? = ns["coll"] { collection = c }
        switch op {
        case "invalidate":
            return (.invalidate, time, token)
        case "drop", "rename", "dropDatabase":
            return (.collectionEvent("\(op) of \(collection ?? "the database")"), time, token)
        case "insert", "replace", "update", "delete":
            break
        default:
            return (.ignored, time, token)
        }
        guard let collection, collections.contains(collection) else { return (.ignored, time, token) }
        guard case let .document(key)? = event["documentKey"], let id = key["_id"] else {
            throw BSONError(offset: 0, reason: "\(op) event without documentKey._id")
        }
        let commitTime = time?.micros
        var full: BSONDocument?
        if case let .document(d)? = event["fullDocument"] { full = d }
        func fullImage(_ d: BSONDocument) -> RowChange {
            var attributes = MongoValueMapping.attributes(d, nesting: nesting)
            attributes["_id"] = MongoValueMapping.value(id)
            return RowChange(collection: collection, operation: .upsert, attributes: attributes, image: .full, commitTime: commitTime, matchEchoes: true)
        }
        switch op {
        case "delete":
            return (.change(RowChange(collection: collection, operation: .delete, attributes: ["_id": MongoValueMapping.value(id)],
                                      commitTime: commitTime, matchEchoes: true)), time, token)
        case "insert", "replace":
            guard let full else { return (.ignored, time, token) }
            return (.change(fullImage(full)), time, token)
        default:
            var updated = BSONDocument()
            var removed: [String] = []
            if case let .document(desc)? = event["updateDescription"] {
                if case let .document(u)? = desc["updatedFields"] { updated = u }
                if case let .array(r)? = desc["removedFields"] {
                    removed = r.compactMap { if case let .string(s) = $0 { return s } else { return nil } }
                }
            }
            var attributes: [String: Value] = ["_id": MongoValueMapping.value(id)]
            var removedAttributes: [String] = []
            switch nesting {
            case .top:
                for (path, value) in updated.fields {
                    if let dot = path.firstIndex(of: ".") {
                        let field = String(path[..<dot])
                        guard let full else { continue }
                        if let v = full[field] { attributes[field] = MongoValueMapping.value(v) } else { removedAttributes.append(field) }
                    } else {
                        attributes[path] = MongoValueMapping.value(value)
                    }
                }
                for path in removed {
                    if let dot = path.firstIndex(of: ".") {
                        let field = String(path[..<dot])
                        guard let full else { continue }
                        if let v = full[field] { attributes[field] = MongoValueMapping.value(v) } else { removedAttributes.append(field) }
                    } else {
                        removedAttributes.append(path)
                    }
                }
            case .paths:
                let needsFull = updated.fields.contains { path, value in
                    if case let .document(d) = value, !d.fields.isEmpty { return true }
                    return path.split(separator: ".").contains { $0.allSatisfy(\.isNumber) }
                } || !removed.isEmpty
                if needsFull {
                    guard let full else { return (.ignored, time, token) }
                    return (.change(fullImage(full)), time, token)
                }
                for (path, value) in updated.fields { attributes[path] = MongoValueMapping.value(value) }
                removedAttributes = removed
            }
            removedAttributes = removedAttributes.filter { attributes[$0] == nil }
            return (.change(RowChange(collection: collection, operation: .upsert, attributes: attributes, image: .partial,
                                      removed: removedAttributes, commitTime: commitTime, matchEchoes: true)), time, token)
        }
    }
}
