import DeltaConnector
import DeltaCore

/// Follows the `_changes` feeds of a source's databases from a position: normal pages while
/// there is a backlog, then `longpoll` requests that return as soon as a change arrives (or
/// after the poll timeout, when the stream checks for cancellation and polls again). Seqs are
/// kept verbatim. Transport errors surface as transient errors, so the engine reconnects with
/// backoff from the last checkpoint.
///
/// Invariants: one batch is one `_changes` page of one database, and its position is that
/// page's `last_seq` with the other databases unchanged, so resuming from it delivers exactly
/// the changes after the batch; all HTTP calls run on the stream's ``BlockingWorker``.
final class CouchDBChangeStream: @unchecked Sendable {
    let worker: BlockingWorker
    let client: CouchDBClient
    let decoder: CouchDBChangeDecoder
    let collections: [CollectionSpec]
    let follow: Bool
    let batchLimit: Int
    /// Touched only on the worker.
    private var position: CouchDBPosition
    private var caughtUp: Set<String> = []
    private var finished = false
    private var next = 0

    init(worker: BlockingWorker, client: CouchDBClient, collections: [CollectionSpec], position: CouchDBPosition, follow: Bool, batchLimit: Int) {
        self.worker = worker
        self.client = client
        self.decoder = CouchDBChangeDecoder(config: client.config, client: client)
        self.collections = collections
        self.position = position
        self.follow = follow
        self.batchLimit = batchLimit
    }

    /// The next batch; nil when the stream ends (caught up without `follow`, or cancelled).
    func nextBatch() async throws -> SourceBatch? {
        while !Task.isCancelled {
            if let batch = try await worker.run({ try self.poll() }) { return batch }
            if finished { return nil }
        }
        return nil
    }

    /// One round over the databases: a batch when some feed had rows (or moved), nil otherwise.
    private func poll() throws -> SourceBatch? {
        if collections.isEmpty { finished = true; return nil }
        for _ in 0..<collections.count {
            let spec = collections[next % collections.count]
            next += 1
            if let batch = try read(spec, longpoll: false, timeoutMs: 0) { return batch }
        }
        guard follow else {
            finished = true
            return nil
        }
        let perDatabase = max(200, client.config.pollTimeout * 1_000 / collections.count)
        for spec in collections {
            if let batch = try read(spec, longpoll: true, timeoutMs: perDatabase) { return batch }
        }
        return nil
    }

    private func read(_ spec: CollectionSpec, longpoll: Bool, timeoutMs: Int) throws -> SourceBatch? {
        let since = position.seq(spec.name)
        let page = try client.changes(spec.name, since: since, limit: batchLimit, longpoll: longpoll, timeoutMs: timeoutMs)
        if (page.pending ?? 0) == 0 { caughtUp.insert(spec.name) } else { caughtUp.remove(spec.name) }
        guard !page.rows.isEmpty || page.lastSeq != since else { return nil }
        let observed = CouchDBChangeDecoder.nowMicros()
        var changes = [RowChange]()
        changes.reserveCapacity(page.rows.count)
        for row in page.rows {
            if let change = try decoder.change(row, spec, observedAt: observed) { changes.append(change) }
        }
        position.seqs[spec.name] = page.lastSeq
        return SourceBatch(changes: changes, position: position.text, caughtUp: caughtUp.count == collections.count)
    }
}
