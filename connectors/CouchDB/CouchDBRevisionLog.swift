import Foundation

/// The revisions this process wrote to CouchDB databases (sink writes and conflict
/// resolutions), so a source in the same process recognises them as echoes (rule 7): a change
/// whose winning revision is one the bridge wrote reports the bridge's own write.
///
/// Invariants: thread-safe; keeps the last few revisions per document and forgets everything
/// once it holds more than `capacity` documents (an echo then reads as a change whose values
/// equal the ledger's, which yields no delta).
final class CouchDBRevisionLog: @unchecked Sendable {
    static let shared = CouchDBRevisionLog()

    private let lock = NSLock()
    private var revs: [String: [String]] = [:]
    let capacity = 1_000_000

    private static func key(_ server: String, _ db: String, _ id: String) -> String { server + "\u{0}" + db + "\u{0}" + id }

    func record(server: String, database: String, id: String, rev: String) {
        let k = CouchDBRevisionLog.key(server, database, id)
        lock.withLock {
            if revs.count >= capacity { revs.removeAll(keepingCapacity: true) }
            var list = revs[k] ?? []
            list.append(rev)
            if list.count > 4 { list.removeFirst(list.count - 4) }
            revs[k] = list
        }
    }

    func wrote(server: String, database: String, id: String, rev: String) -> Bool {
        let k = CouchDBRevisionLog.key(server, database, id)
        return lock.withLock { revs[k]?.contains(rev) ?? false }
    }
}
