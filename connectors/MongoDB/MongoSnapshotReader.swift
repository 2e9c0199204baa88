import DeltaCore
import DeltaConnector

/// An open snapshot of a MongoDB database: the cluster time noted before reading, the change
/// stream's resume token taken right after it (``position``: the stream resumes after that token,
/// or starts at the cluster time when the server gives no token) and the collections read in
/// `_id` order in chunks (one `find` sorted by `_id` continued with `getMore`; `_id > last` when a
/// read resumes elsewhere). MongoDB gives no point-in-time read across a long
/// copy, so a document changed during the snapshot may be read before or after its change; either
/// way the change stream delivers that change again after ``position`` and, being stamped later
/// than the snapshot's rows (which carry the snapshot's cluster time), it wins.
///
/// Invariants: the cursor is the hex BSON of `{_id: last}`; all calls run on the reader's worker.
/// Limitation: `_id`s of different BSON types are compared per type by `$gt`, so a collection
/// whose `_id`s mix types is read only for the type of its first chunk's `_id`s after the first.
public final class MongoSnapshotReader: SnapshotReader {
    public let position: String
    let worker: BlockingWorker
    let state: State

    init(worker: BlockingWorker, state: State) {
        self.worker = worker
        self.state = state
        self.position = (state.resumeToken.map { MongoPosition.resumeAfter(state.startTime, token: $0) }
            ?? MongoPosition.operationTime(state.startTime)).description
    }

    deinit {
        let (state, worker) = (self.state, self.worker)
        Task { _ = try? await worker.run { state.close() } }
    }

    /// The snapshot's client and start time; touched only on the worker.
    final class State: @unchecked Sendable {
        let config: MongoStoreConfig
        var connection: MongoConnection?
        let startTime: MongoClusterTime
        let resumeToken: BSONDocument?

        init(config: MongoStoreConfig, connection: MongoConnection, startTime: MongoClusterTime, resumeToken: BSONDocument?) {
            self.config = config
            self.connection = connection
            self.startTime = startTime
            self.resumeToken = resumeToken
        }

        static func open(_ config: MongoStoreConfig, _ collections: [CollectionSpec]) throws -> State {
            let connection = try MongoConnection.connect(config)
            for c in collections where c.keyAttributes != ["_id"] {
                throw ConnectorError(.permanent, "\(config.label): collection '\(c.name)' is keyed on \(c.keyAttributes.joined(separator: ", ")); change events identify documents by _id only — use `key: _id` for MongoDB collections")
            }
            let time: MongoClusterTime
            do {
                time = try connection.operationTime()
            } catch {
                throw connection.mapped(error, doing: "reading the cluster time before the snapshot")
            }
            let token = currentResumeToken(connection, collections)
            return State(config: config, connection: connection, startTime: time, resumeToken: token)
        }

        /// The post-batch resume token of a change stream opened now, in the scope the stream
        /// will have (one collection, or the database), then closed. Resuming after it needs no
        /// search of the oplog by time, and the server itself reports a trimmed oplog
        /// (`ChangeStreamHistoryLost`). nil when the server gives none (MongoDB before 4.0.7)
        /// or refuses: the hand-off then starts at the cluster time instead.
        static func currentResumeToken(_ connection: MongoConnection, _ collections: [CollectionSpec]) -> BSONDocument? {
            let target: BSONValue = collections.count == 1 ? .string(collections[0].name) : .int32(1)
            let command = BSONDocument([("aggregate", target),
                                        ("pipeline", .array([.document(BSONDocument([("$changeStream", .document(BSONDocument([("fullDocument", .string("updateLookup"))])))]))])),
                                        ("cursor", .document(BSONDocument([("batchSize", .int32(0))])))])
            guard let reply = try? connection.command(command), case let .document(cursor)? = reply["cursor"] else { return nil }
            let collection = collections.count == 1 ? collections[0].name : "$cmd.aggregate"
            switch cursor["id"] {
            case let .int64(id)? where id != 0:
                _ = try? connection.command(BSONDocument([("killCursors", .string(collection)), ("cursors", .array([.int64(id)]))]))
            default:
                break
            }
            guard case let .document(token)? = cursor["postBatchResumeToken"], !token.fields.isEmpty else { return nil }
            return token
        }

        func close() {
            killOpenCursor()
            connection?.close()
            connection = nil
        }

        /// The server cursor of the collection being read: continued with `getMore` while the
        /// engine asks for the chunk after its last `_id` (one sorted scan per collection, not one
        /// per chunk); any other request opens a new one.
        private var open: (collection: String, id: Int64, last: BSONValue?)?
        /// Whether the server refused the `_id` index hint, which spares servers that would
        /// otherwise sort the collection in memory (SecantusDB: 40k instead of 67k documents/s).
        private var hintRefused = false

        func chunk(_ collection: CollectionSpec, after cursor: BSONValue?, limit: Int) throws -> SnapshotChunk {
            guard let connection else { throw ConnectorError(.permanent, "\(config.label): the snapshot was already closed") }
            let command: BSONDocument
            if let o = open, o.collection == collection.name, o.last == cursor, o.id != 0 {
                command = BSONDocument([("getMore", .int64(o.id)), ("collection", .string(collection.name)), ("batchSize", .int64(Int64(limit)))])
            } else if let o = open, o.collection == collection.name, o.last == cursor, o.id == 0, cursor != nil {
                return SnapshotChunk(rows: [], cursor: nil)
            } else {
                killOpenCursor()
                var filter = BSONDocument()
                if let cursor { filter["_id"] = .document(BSONDocument([("$gt", cursor)])) }
                command = BSONDocument([("find", .string(collection.name)), ("filter", .document(filter)),
                                        ("sort", .document(BSONDocument([("_id", .int32(1))]))), ("batchSize", .int64(Int64(limit)))]
                                       + (hintRefused ? [] : [("hint", .document(BSONDocument([("_id", .int32(1))])))]))
            }
            let reply: BSONDocument
            do {
                reply = try connection.command(command)
            } catch where !hintRefused && command["hint"] != nil && error.code == 2 {
                // A view or a collection without an `_id` index: sorted without the hint.
                hintRefused = true
                return try chunk(collection, after: cursor, limit: limit)
            } catch {
                open = nil
                throw connection.mapped(error, doing: "reading collection '\(collection.name)' for the snapshot")
            }
            guard case let .document(c)? = reply["cursor"], case let .array(batch)? = c["firstBatch"] ?? c["nextBatch"] else {
                open = nil
                throw ConnectorError(.transient, "\(config.label): the find reply on '\(collection.name)' has no cursor batch")
            }
            var cursorID: Int64 = 0
            switch c["id"] {
            case let .int64(i)?: cursorID = i
            case let .int32(i)?: cursorID = Int64(i)
            default: break
            }
            var rows: [RowChange] = []
            rows.reserveCapacity(batch.count)
            var last: BSONValue?
            for case let .document(d) in batch {
                let attributes = MongoValueMapping.attributes(d, nesting: config.nesting)
                last = d["_id"]
                rows.append(RowChange(collection: collection.name, operation: .upsert, attributes: attributes, image: .full,
                                      commitTime: startTime.micros, matchEchoes: true))
            }
            guard let last else {
                open = nil
                return SnapshotChunk(rows: [], cursor: nil)
            }
            open = (collection.name, cursorID, last)
            return SnapshotChunk(rows: rows, cursor: MongoValueMapping.hex(BSONWriter.bytes(BSONDocument([("_id", last)]))))
        }

        private func killOpenCursor() {
            if let o = open, o.id != 0, let connection {
                _ = try? connection.command(BSONDocument([("killCursors", .string(o.collection)), ("cursors", .array([.int64(o.id)]))]))
            }
            open = nil
        }

        func estimatedCount(_ collection: CollectionSpec) throws -> Int? {
            guard let connection else { return nil }
            guard let reply = try? connection.command(BSONDocument([("count", .string(collection.name))])) else { return nil }
            switch reply["n"] {
            case let .int32(n)?: return Int(n)
            case let .int64(n)?: return Int(n)
            case let .double(n)?: return Int(n)
            default: return nil
            }
        }
    }

    public func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk {
        var start: BSONValue?
        if let cursor {
            guard let bytes = MongoPosition.bytes(hex: Substring(cursor)), let d = try? BSONReader.document(bytes), let id = d["_id"] else {
                throw ConnectorError(.permanent, "'\(cursor)' is not a snapshot cursor of collection '\(collection.name)' — restart the snapshot")
            }
            start = id
        }
        let state = self.state
        let from = start
        return try await worker.run { try state.chunk(collection, after: from, limit: max(1, limit)) }
    }

    public func estimatedCount(_ collection: CollectionSpec) async throws -> Int? {
        let state = self.state
        return try await worker.run { try state.estimatedCount(collection) }
    }

    public func close() async {
        let state = self.state
        _ = try? await worker.run { state.close() }
    }
}
