import CMongoC
import DeltaCore
import DeltaConnector

/// One change stream of a source: a client, the `watch` cursor (collection scope for one
/// collection, database scope filtered to the mapped collections for several) and the assembly of
/// events into ``SourceBatch``es.
///
/// Each event is its own resume point, so a batch ends after any event: at ``batchLimit`` events,
/// or when the server has nothing more (the getMore waited `maxAwaitTimeMS` in vain), with the
/// post-batch resume token as the idle position. An `invalidate` ends the batch with a `startAfter`
/// position and the stream reopens from it (with a warning); history lost is ``ConnectorError/Kind/positionLost``.
///
/// Invariant: every method runs on the owning stream's worker (a libmongoc client is single-threaded).
final class MongoStreamSession: @unchecked Sendable {
    let config: MongoStoreConfig
    let collections: [CollectionSpec]
    let follow: Bool
    let batchLimit: Int
    let decoder: MongoChangeDecoder

    /// How long one getMore waits for new events (ms).
    static let maxAwaitMilliseconds: Int32 = 250
    /// A batch is handed out once its first event is this old (ms), so that a steady stream of
    /// writes does not hold events back until ``batchLimit`` is reached.
    static let batchMilliseconds: Int64 = 100
    /// Idle batches that only move the position forward are handed out at most this often (ms).
    static let idleAdvanceInterval: Int64 = 10_000

    private var connection: MongoConnection?
    private var collection: OpaquePointer?
    private var database: OpaquePointer?
    private var stream: OpaquePointer?
    /// Where the next open starts.
    private(set) var position: MongoPosition
    private var lastIdleAdvanceAt: Int64 = 0
    private var announcedCaughtUp = false
    private(set) var finished = false

    /// What one ``step()`` produced.
    enum Step: Sendable {
        case batch(SourceBatch)
        case nothing
        case finished
    }

    init(config: MongoStoreConfig, collections: [CollectionSpec], after: MongoPosition, follow: Bool, batchLimit: Int) {
        self.config = config
        self.collections = collections
        self.follow = follow
        self.batchLimit = max(1, batchLimit)
        self.position = after
        self.decoder = MongoChangeDecoder(nesting: config.nesting, collections: Set(collections.map(\.name)))
    }

    deinit { close() }

    func close() {
        if let stream { mongoc_change_stream_destroy(stream) }
        stream = nil
        if let collection { mongoc_collection_destroy(collection) }
        collection = nil
        if let database { mongoc_database_destroy(database) }
        database = nil
        connection?.close()
        connection = nil
    }

    /// Drops the cursor and client; the next step reopens from ``position``.
    func resetForReconnect() { close() }

    private func open() throws {
        let connection = try self.connection ?? MongoConnection.connect(config)
        self.connection = connection
        let client: OpaquePointer
        do { client = try connection.handle } catch { throw connection.mapped(error, doing: "opening the change stream") }
        var options = BSONDocument([("fullDocument", .string("updateLookup")),
                                    ("maxAwaitTimeMS", .int32(Self.maxAwaitMilliseconds)),
                                    ("batchSize", .int32(Int32(clamping: batchLimit)))])
        if case .operationTime = position { try checkHistory(connection) }
        let (name, value) = position.option
        options[name] = value
        var pipeline: [BSONValue] = []
        if collections.count == 1 {
            collection = mongoc_client_get_collection(client, config.database, collections[0].name)
        } else {
            database = mongoc_client_get_database(client, config.database)
            let names = collections.map { BSONValue.string($0.name) }
            pipeline = [.document(BSONDocument([("$match", .document(BSONDocument([("$or", .array([
                .document(BSONDocument([("ns.coll", .document(BSONDocument([("$in", .array(names))])))])),
                .document(BSONDocument([("operationType", .document(BSONDocument([("$in", .array([.string("invalidate"), .string("dropDatabase")]))])))])),
            ]))])))]))]
        }
        let wrapped = BSONDocument([("pipeline", .array(pipeline))])
        let opened: OpaquePointer? = LibBSON.withBSON(wrapped) { p in
            LibBSON.withBSON(options) { o in
                if let collection { return mongoc_collection_watch(collection, p, o) }
                return mongoc_database_watch(database, p, o)
            }
        }
        guard let opened else {
            throw ConnectorError(.transient, "\(config.label): libmongoc could not open a change stream")
        }
        stream = opened
        try checkError(doing: "opening the change stream at \(position.time)")
    }

    /// Refuses a cluster-time position older than the oldest oplog entry: the changes in between
    /// are gone. (MongoDB reports this as ChangeStreamHistoryLost itself; checking first also
    /// covers servers that silently start at the oldest entry.) Resume tokens need no such check:
    /// servers refuse a token the oplog no longer holds. Skipped when the oplog cannot be read.
    private func checkHistory(_ connection: MongoConnection) throws {
        let command = BSONDocument([("find", .string("oplog.rs")), ("sort", .document(BSONDocument([("$natural", .int32(1))]))),
                                    ("limit", .int32(1)), ("singleBatch", .bool(true))])
        guard let reply = try? connection.command(command, database: "local"), case let .document(c)? = reply["cursor"],
              case let .array(batch)? = c["firstBatch"], case let .document(entry)? = batch.first,
              case let .timestamp(t, i)? = entry["ts"] else { return }
        let oldest = MongoClusterTime(seconds: t, increment: i)
        if position.time < oldest {
            close()
            throw config.positionLost("the saved position (cluster time \(position.time)) is older than the oldest oplog entry (\(oldest)): the oplog was trimmed while the bridge was away")
        }
    }

    /// Throws the stream's error, if it has one.
    private func checkError(doing: String) throws {
        guard let stream else { return }
        var error = bson_error_t()
        var document: OpaquePointer?
        let failed = deltabridge_change_stream_error(stream, &error, &document)
        var reply: BSONDocument?
        if let document {
            reply = try? LibBSON.document(document)
            bson_destroy(document)
        }
        guard failed else { return }
        let e = MongoServerError(domain: error.domain, code: error.code, message: String(cString: deltabridge_error_message(&error)), reply: reply)
        close()
        if e.code == MongoServerError.Code.changeStreamFatal || e.isHistoryLost || e.message.contains("resume token") {
            throw config.positionLost("the change stream cannot resume from \(position) (\(e.message))")
        }
        if e.isAuthentication || e.isUnauthorized { throw MongoConnection.mapped(e, config, doing: doing) }
        if e.code == 40573 || e.message.contains("replica set") || e.message.contains("only supported on replica sets") {
            throw ConnectorError(.permanent, "\(config.label): change streams need a replica set (\(e.message)) — run mongod with --replSet (a single-node replica set will do) and rs.initiate()")
        }
        throw ConnectorError(.transient, "\(config.label): the change stream failed while \(doing): \(e.message)")
    }

    /// Reads what is available (one getMore at most waits) and returns a batch when there is one.
    func step() throws -> Step {
        if finished { return .finished }
        if stream == nil { try open() }
        guard let stream else { return .finished }
        var changes: [RowChange] = []
        var reopen = false
        var firstAt: Int64?
        // Where this batch ends; becomes ``position`` only when the batch is handed out, so that
        // an error in the middle reopens before the events read so far.
        var next = position
        while changes.count < batchLimit {
            if let firstAt, Monotonic.milliseconds() - firstAt >= Self.batchMilliseconds { break }
            var event: OpaquePointer?
            let got = mongoc_change_stream_next(stream, &event)
            guard got, let event else { break }
            let document: BSONDocument
            do {
                document = try LibBSON.document(event)
            } catch {
                throw ConnectorError(.transient, "\(config.label): \(error) in the change stream; reconnecting")
            }
            let decoded: (MongoChangeDecoder.Outcome, MongoClusterTime?, BSONDocument?)
            do {
                decoded = try decoder.decode(document)
            } catch {
                throw ConnectorError(.transient, "\(config.label): \(error) in a change event; reconnecting")
            }
            let (outcome, time, token) = decoded
            let eventTime = time ?? next.time
            switch outcome {
            case var .change(change):
                if let time { change.isEcho = MongoEchoRegistry.shared.consume(MongoEchoRegistry.scope(config), change, at: time) }
                changes.append(change)
                if firstAt == nil { firstAt = Monotonic.milliseconds() }
            case let .collectionEvent(what):
                config.warn("\(config.label): \(what) in database '\(config.database)'; its documents are not deleted in the other stores — the flow continues with what is written from now on")
            case .invalidate:
                config.warn("\(config.label): the change stream was invalidated (a mapped collection was dropped or renamed); reopening it after that point")
                reopen = true
            case .ignored:
                break
            }
            if let token {
                next = reopen ? .startAfter(eventTime, token: token) : .resumeAfter(eventTime, token: token)
            }
            if reopen { break }
        }
        if !changes.isEmpty { MongoEchoRegistry.shared.expire(MongoEchoRegistry.scope(config), before: next.time) }
        if reopen {
            close()
            position = next
            return .batch(SourceBatch(changes: changes, position: position.description, caughtUp: false))
        }
        try checkError(doing: "reading the change stream")
        position = next
        if !changes.isEmpty {
            let caughtUp = changes.count < batchLimit && firstAt.map { Monotonic.milliseconds() - $0 < Self.batchMilliseconds } ?? true
            if caughtUp && !follow { finished = true }
            if caughtUp { announcedCaughtUp = true; lastIdleAdvanceAt = Monotonic.milliseconds() }
            return .batch(SourceBatch(changes: changes, position: position.description, caughtUp: caughtUp))
        }
        // Nothing new: the post-batch resume token marks how far the server has looked.
        let now = Monotonic.milliseconds()
        if !follow || !announcedCaughtUp || now - lastIdleAdvanceAt >= Self.idleAdvanceInterval {
            if let pbrt = mongoc_change_stream_get_resume_token(stream), let token = try? LibBSON.document(pbrt), !token.fields.isEmpty {
                var time = position.time
                if let t = try? connection?.operationTime(), t > time { time = t }
                if case let .resumeAfter(_, previous) = position, previous == token {
                    // Same token: keep the event's time.
                } else {
                    position = .resumeAfter(time, token: token)
                }
            }
            announcedCaughtUp = true
            lastIdleAdvanceAt = now
            if !follow { finished = true }
            return .batch(SourceBatch(changes: [], position: position.description, caughtUp: true))
        }
        return .nothing
    }
}
