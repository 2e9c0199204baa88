import DeltaCore
import DeltaConnector
import Synchronization

/// The writes this process's MongoDB sinks made and whose change events have not come back yet,
/// so that a source of the same database in the same process recognises them as echoes (rule 7)
/// even when they arrive after a newer write to the same field (a stale echo, which the ledger's
/// last-write records alone cannot recognise).
///
/// An event is an echo of a pending write when it is for the same document, its cluster time is
/// not after the write command's `operationTime` (the write happened by then), and it reports
/// exactly what was written (a subset of the `$set` fields and the `$unset` ones, the replacement,
/// or a delete). Pending writes whose time has passed without a matching event (no-op updates)
/// are dropped as the stream moves past them. Only scopes some source in this process reads are
/// recorded, at most ``limit`` pending writes each. After a restart the engine's ledger matching
/// (``RowChange/matchEchoes``) still recognises echoes of the bridge's last writes.
///
/// Invariant: thread-safe (one mutex); values are kept as they read back from BSON.
final class MongoEchoRegistry: Sendable {
    static let shared = MongoEchoRegistry()
    /// Pending writes per scope at most; the oldest are dropped beyond it.
    static let limit = 200_000

    /// What one write did to one document.
    struct Write: Sendable {
        enum Kind: Sendable { case update(set: [String: Value], unset: Set<String>), replace([String: Value]), delete }
        var kind: Kind
        /// The write had happened by this cluster time.
        var until: MongoClusterTime
    }

    private struct Scope {
        var readers = 0
        var count = 0
        var pending: [String: [Write]] = [:]
    }

    private let state = Mutex<[String: Scope]>([:])

    static func scope(_ config: MongoStoreConfig) -> String { config.url + "\u{0}" + config.database }

    private static func key(_ collection: String, _ id: Value) -> String { collection + "\u{0}" + id.description }

    /// A source starts or stops reading the scope.
    func addReader(_ scope: String) { state.withLock { $0[scope, default: Scope()].readers += 1 } }

    func removeReader(_ scope: String) {
        state.withLock { all in
            guard var s = all[scope] else { return }
            s.readers -= 1
            if s.readers <= 0 { all[scope] = nil } else { all[scope] = s }
        }
    }

    /// Whether any source in this process reads the scope.
    func isRead(_ scope: String) -> Bool { state.withLock { ($0[scope]?.readers ?? 0) > 0 } }

    // The scopes are changed in place (`all[scope]!...`): a copy of a scope taken out of the
    // dictionary and written back would copy all its pending writes on every call.

    func record(_ scope: String, collection: String, id: Value, _ write: Write) {
        state.withLock { all in
            guard let readers = all[scope]?.readers, readers > 0 else { return }
            if all[scope]!.count >= Self.limit {
                all[scope]!.pending.removeAll()
                all[scope]!.count = 0
            }
            all[scope]!.pending[Self.key(collection, id), default: []].append(write)
            all[scope]!.count += 1
        }
    }

    /// Whether `change` (read at cluster time `time`) is the echo of a pending write; consumes it
    /// and the writes before it on that document.
    func consume(_ scope: String, _ change: RowChange, at time: MongoClusterTime) -> Bool {
        guard let id = change.attributes["_id"] else { return false }
        let key = Self.key(change.collection, id)
        return state.withLock { all in
            guard let writes = all[scope]?.pending[key], !writes.isEmpty else { return false }
            var matched: Int?
            for (i, w) in writes.enumerated() where time <= w.until && Self.matches(change, w) {
                matched = i
                break
            }
            guard let matched else { return false }
            all[scope]!.count -= matched + 1
            if matched + 1 == writes.count {
                all[scope]!.pending[key] = nil
            } else {
                all[scope]!.pending[key]!.removeFirst(matched + 1)
            }
            return true
        }
    }

    /// Drops pending writes that happened before `time` without an event (no-op updates).
    func expire(_ scope: String, before time: MongoClusterTime) {
        state.withLock { all in
            guard let count = all[scope]?.count, count > 0 else { return }
            var expired: [(String, [Write])] = []
            for (key, writes) in all[scope]!.pending where writes.contains(where: { $0.until < time }) {
                expired.append((key, writes.filter { !($0.until < time) }))
            }
            for (key, kept) in expired {
                all[scope]!.count -= all[scope]!.pending[key]!.count - kept.count
                all[scope]!.pending[key] = kept.isEmpty ? nil : kept
            }
        }
    }

    private static func matches(_ change: RowChange, _ write: Write) -> Bool {
        switch (change.operation, write.kind) {
        case (.delete, .delete):
            return true
        case let (.upsert, .update(set, unset)):
            for (name, value) in change.attributes where name != "_id" {
                guard set[name] == value else { return false }
            }
            if change.image == .partial {
                return change.removed.allSatisfy { unset.contains($0) }
            }
            // An insert made by an upsert: exactly the fields that were set.
            return change.attributes.keys.filter { $0 != "_id" }.count == set.count
        case let (.upsert, .replace(document)):
            guard change.image == .full else {
                return change.attributes.allSatisfy { $0.key == "_id" || document[$0.key] == $0.value } && change.removed.allSatisfy { document[$0] == nil }
            }
            var image = change.attributes
            image["_id"] = nil
            return image == document
        default:
            return false
        }
    }
}
