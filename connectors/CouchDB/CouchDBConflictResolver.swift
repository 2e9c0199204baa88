import DeltaConnector
import DeltaCore

/// Resolves a CouchDB document with several live leaf revisions (a replication or offline-edit
/// conflict): merges the leaves attribute by attribute and writes the result on the winning
/// branch while deleting the losing leaves in one `_bulk_docs`.
///
/// Merge rule: start from CouchDB's winning leaf; an attribute that a losing leaf changed
/// relative to the leaves' common ancestor, and the winner did not, takes the loser's value
/// (rule 1: edits of different attributes both survive); an attribute both changed keeps the
/// winner's value (CouchDB's deterministic winner, the same on every replica). Without the
/// ancestor's body (compacted), attributes only a loser has are kept.
///
/// Invariant: revisions it writes are recorded in ``CouchDBRevisionLog`` so their echoes are
/// recognised; a write that meets a newer edit (`conflict`) is left to the next change, and one
/// the user may not make (read-only account) leaves the conflict in CouchDB — the merged content
/// is synced either way.
struct CouchDBConflictResolver {
    let client: CouchDBClient

    /// The merged body (CouchDB members included: `_id`, `_rev` of the write, `_attachments`).
    func resolve(database db: String, id: String, winner: [String: Value]) throws -> [String: Value] {
        let leaves = try client.leaves(db, id: id).filter { $0["_deleted"] != .bool(true) }
        guard let winnerRev = winner["_rev"]?.stringValue else { return winner }
        let winnerLeaf = leaves.first { $0["_rev"]?.stringValue == winnerRev } ?? winner
        let losers = leaves.filter { $0["_rev"]?.stringValue != winnerRev }
            .sorted { ($0["_rev"]?.stringValue ?? "") > ($1["_rev"]?.stringValue ?? "") }
        if losers.isEmpty { return winner }
        var merged = winnerLeaf
        merged["_revisions"] = nil
        merged["_conflicts"] = nil
        for loser in losers {
            let ancestor = try commonAncestor(db, id, winnerLeaf, loser)
            let names = Set(loser.keys).union(winnerLeaf.keys).union(ancestor?.keys ?? [:].keys).filter { !$0.hasPrefix("_") }
            for name in names {
                let lv = loser[name]
                let wv = winnerLeaf[name]
                if let ancestor {
                    let av = ancestor[name]
                    if lv != av && wv == av { merged[name] = lv }
                } else if wv == nil, let lv {
                    merged[name] = lv
                }
            }
        }
        var docs: [Value] = [.object(merged)]
        for loser in losers {
            docs.append(.object(["_id": .string(id), "_rev": loser["_rev"] ?? .null, "_deleted": .bool(true)]))
        }
        let results: [[String: Value]]
        do {
            results = try client.bulkDocs(db, docs)
        } catch let error as ConnectorError where error.kind == .permanent {
            // A user who may read but not write (a one-way source): the merge is still what the
            // bridge syncs; the conflict stays in CouchDB.
            return merged
        }
        for r in results {
            if r["ok"] == .bool(true), let rev = r["rev"]?.stringValue {
                CouchDBRevisionLog.shared.record(server: client.config.server.baseURL, database: db, id: id, rev: rev)
            }
        }
        return merged
    }

    /// The body of the newest revision both leaves descend from, when CouchDB still has it.
    private func commonAncestor(_ db: String, _ id: String, _ a: [String: Value], _ b: [String: Value]) throws -> [String: Value]? {
        let ha = history(a)
        let hb = Set(history(b))
        guard let shared = ha.first(where: { hb.contains($0) }) else { return nil }
        return try client.revision(db, id: id, rev: shared)
    }

    /// A leaf's revision path, newest first, as `N-hash` strings (from `_revisions`).
    private func history(_ leaf: [String: Value]) -> [String] {
        guard let r = leaf["_revisions"]?.objectValue, case let .int(start)? = r["start"], let ids = r["ids"]?.arrayValue else { return [] }
        return ids.enumerated().compactMap { i, v in v.stringValue.map { "\(start - Int64(i))-\($0)" } }
    }
}
