#if canImport(Glibc)
import Glibc
#endif
import DeltaConnector
import DeltaCore

/// Turns `_changes` rows and `_all_docs` documents into ``RowChange``s: skips design documents
/// (unless configured), makes deleted documents tombstones, marks revisions the bridge wrote as
/// echoes, and resolves conflicted documents first (``CouchDBConflictResolver``).
///
/// Invariant: every change carries the collection's key attribute; CouchDB has no commit time,
/// so `commitTime` is the time the bridge read the change (the engine stamps with it, or with the
/// mapping's `time` attribute), which also makes "seconds behind" mean "since the last applied
/// change was observed".
struct CouchDBChangeDecoder {
    let config: CouchDBStoreConfig
    let client: CouchDBClient

    func skips(_ id: String) -> Bool {
        id.hasPrefix("_local/") || (!config.designDocuments && id.hasPrefix("_design/"))
    }

    /// The change of one `_changes` row; nil for a skipped document.
    func change(_ row: CouchDBChangesPage.Row, _ spec: CollectionSpec, observedAt: Int64) throws -> RowChange? {
        if skips(row.id) { return nil }
        let rev = row.doc?["_rev"]?.stringValue ?? row.leafRevs.first
        let echo = rev.map { CouchDBRevisionLog.shared.wrote(server: config.server.baseURL, database: spec.name, id: row.id, rev: $0) } ?? false
        if row.deleted || row.doc == nil || row.doc?["_deleted"] == .bool(true) {
            return RowChange(collection: spec.name, operation: .delete, attributes: CouchDBValueMapping.keyAttributes(id: row.id, spec: spec),
                             commitTime: observedAt, isEcho: echo)
        }
        return try upsert(row.doc!, id: row.id, spec, echo: echo, observedAt: observedAt)
    }

    /// The change of a live document (snapshot row or feed row).
    func upsert(_ doc: [String: Value], id: String, _ spec: CollectionSpec, echo: Bool, observedAt: Int64) throws -> RowChange {
        var body = doc
        var isEcho = echo
        if config.resolveConflicts, let conflicts = doc["_conflicts"]?.arrayValue, !conflicts.isEmpty {
            body = try CouchDBConflictResolver(client: client).resolve(database: spec.name, id: id, winner: doc)
            isEcho = false
        }
        return RowChange(collection: spec.name, operation: .upsert, attributes: CouchDBValueMapping.attributes(of: body, id: id, spec: spec),
                         commitTime: observedAt, isEcho: isEcho)
    }

    /// Now, in µs since the Unix epoch (the observation time of what was just read).
    static func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }
}
