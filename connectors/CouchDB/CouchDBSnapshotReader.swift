import DeltaConnector
import DeltaCore

/// Reads the documents of each mapped database for the initial copy, as CouchDB's own
/// replicator does: the `_changes` feed from the beginning (`since=0`, `include_docs=true`,
/// `conflicts=true`), one row per live document, in pages; deleted documents are skipped. (Paging
/// `_all_docs` by `startkey` works too, but costs the stand-in a scan per page.)
///
/// CouchDB has no snapshot isolation: the position is each database's `update_seq` taken
/// *before* the first page, so every document changed while the pages are read is delivered
/// again by the feed after it (at least once, never lost; replays are harmless, rule 9).
///
/// Invariant: all HTTP calls run on this reader's ``BlockingWorker``; a chunk's cursor is the
/// `last_seq` of its page, verbatim.
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
            let page = try client.changes(collection.name, since: cursor ?? "0", limit: limit, longpoll: false, timeoutMs: 0)
            let observed = CouchDBChangeDecoder.nowMicros()
            var changes = [RowChange]()
            changes.reserveCapacity(page.rows.count)
            for row in page.rows where !row.deleted && !decoder.skips(row.id) {
                guard let doc = row.doc, doc["_deleted"] != .bool(true) else { continue }
                changes.append(try decoder.upsert(doc, id: row.id, collection, echo: false, observedAt: observed))
            }
            let more = page.pending.map { $0 > 0 } ?? (page.rows.count >= limit)
            return SnapshotChunk(rows: changes, cursor: more && !page.rows.isEmpty ? page.lastSeq : nil)
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
