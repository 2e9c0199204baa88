import DeltaCore
import DeltaConnector

/// An open snapshot of a MongoDB database: the cluster time noted before reading (``position``,
/// where the change stream starts, inclusive) and the collections read in `_id` order in chunks
/// (`find` with `_id > last`, sorted by `_id`). MongoDB gives no point-in-time read across a long
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
        self.position = MongoPosition.operationTime(state.startTime).description
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

        init(config: MongoStoreConfig, connection: MongoConnection, startTime: MongoClusterTime) {
            self.config = config
            self.connection = connection
            self.startTime = startTime
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
            return State(config: config, connection: connection, startTime: time)
        }

        func close() {
            connection?.close()
            connection = nil
        }

        func chunk(_ collection: CollectionSpec, after cursor: BSONValue?, limit: Int) throws -> SnapshotChunk {
            guard let connection else { throw ConnectorError(.permanent, "\(config.label): the snapshot was already closed") }
            var filter = BSONDocument()
            if let cursor { filter["_id"] = .document(BSONDocument([("$gt", cursor)])) }
            let command = BSONDocument([("find", .string(collection.name)), ("filter", .document(filter)),
                                        ("sort", .document(BSONDocument([("_id", .int32(1))]))),
                                        ("limit", .int64(Int64(limit))), ("batchSize", .int64(Int64(limit))), ("singleBatch", .bool(true))])
            let reply: BSONDocument
            do {
                reply = try connection.command(command)
            } catch {
                throw connection.mapped(error, doing: "reading collection '\(collection.name)' for the snapshot")
            }
            guard case let .document(c)? = reply["cursor"], case let .array(batch)? = c["firstBatch"] else {
                throw ConnectorError(.transient, "\(config.label): the find reply on '\(collection.name)' has no cursor.firstBatch")
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
            let next = last.map { MongoValueMapping.hex(BSONWriter.bytes(BSONDocument([("_id", $0)]))) }
            return SnapshotChunk(rows: rows, cursor: next)
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
