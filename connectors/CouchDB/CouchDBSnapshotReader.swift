import DeltaConnector
import DeltaCore

/// Reads the documents of each mapped database in `_id` order through `_all_docs` pages.
///
/// CouchDB has no snapshot isolation: the position is each database's `update_seq` taken
/// *before* the first page, so every document changed while the pages are read is delivered
/// again by the feed after it (at least once, never lost; replays are harmless, rule 9).
///
/// Invariant: all HTTP calls run on this reader's ``BlockingWorker``; a chunk's cursor is the
/// last `_id` it covered.
final class CouchDBSnapshotReader: SnapshotReader {
    let position: String
    let worker: BlockingWorker
    let client: CouchDBClient
    let decoder: CouchDBChangeDecoder

    init(position: String, worker: BlockingWorker, client: CouchDBClient) {
        self.position = position
        self.worker = worker
        self.client = client
        self.decoder = CouchDBChangeDecoder(config: client.config, client: client)
    }

    func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk {
        let (client, decoder) = (self.client, self.decoder)
        return try await worker.run {
            // One row more than asked tells whether more follow; the cursor's own row (when it
            // still exists) comes first and is dropped.
            var items: [(String, String)] = [("include_docs", "true"), ("conflicts", "true"), ("limit", String(limit + (cursor == nil ? 1 : 2)))]
            if let cursor { items.append(("startkey", JSONText.quote(cursor))) }
            let r = try client.send("GET", CouchDBStoreConfig.path(collection.name) + "/_all_docs" + CouchDBStoreConfig.query(items),
                                    doing: "reading the documents of '\(collection.name)'", database: collection.name)
            var rows = (r.json.objectValue?["rows"]?.arrayValue ?? []).compactMap { $0.objectValue }
            rows.removeAll { $0["id"]?.stringValue == cursor }
            var next: String?
            if rows.count > limit {
                rows.removeLast(rows.count - limit)
                next = rows.last?["id"]?.stringValue
            }
            let observed = CouchDBChangeDecoder.nowMicros()
            var changes = [RowChange]()
            changes.reserveCapacity(rows.count)
            for row in rows {
                guard let id = row["id"]?.stringValue, !decoder.skips(id), let doc = row["doc"]?.objectValue else { continue }
                changes.append(try decoder.upsert(doc, id: id, collection, echo: false, observedAt: observed))
            }
            return SnapshotChunk(rows: changes, cursor: next)
        }
    }

    func estimatedCount(_ collection: CollectionSpec) async throws -> Int? {
        let client = self.client
        return try await worker.run {
            if case let .int(n)? = try client.databaseInfo(collection.name)?["doc_count"] { return Int(n) }
            return nil
        }
    }

    func close() async {}
}
