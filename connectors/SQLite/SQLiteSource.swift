import DeltaCore
import DeltaConnector
import SQLiteSupport

/// Reads a SQLite database's changes through the trigger-filled change log of ``SQLiteChangeLog``,
/// which it installs in the database file on first use. Positions are change-log seq numbers as
/// decimal text ("0" = before the first change).
///
/// Invariants: all SQLite calls run on this source's ``BlockingWorker``; resuming from a position
/// delivers exactly the changes logged after it; change-log rows are only ever deleted by
/// ``prune(upTo:)``, which the engine calls after a checkpoint is durable.
public final class SQLiteSource: SourceConnector, ChangeLogPruning {
    public let store: StoreID
    /// The database file (already resolved against the pipeline file's folder).
    public let path: String
    public let busyTimeoutMilliseconds: Int32
    /// Change-log rows read per batch at most.
    public let batchLimit: Int

    let worker: BlockingWorker
    let connection: SQLiteConnectionSlot

    public init(store: StoreID, path: String, busyTimeoutMilliseconds: Int32 = 5_000, initSQL: String? = nil, batchLimit: Int = 1000) {
        self.store = store
        self.batchLimit = max(1, batchLimit)
        self.path = path
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.worker = BlockingWorker(label: "sqlite-source.\(store.name)")
        self.connection = SQLiteConnectionSlot(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, initSQL: initSQL)
    }

    /// Installs (idempotently) the change-log tables and the triggers of `collections`, re-creating
    /// triggers whose table has gained or lost columns, and switches the database to WAL mode.
    /// ``beginSnapshot(of:)`` and ``changes(of:after:follow:)`` do this themselves; changes made
    /// before the first installation are not in the log (the snapshot covers them).
    public func installChangeLog(for collections: [CollectionSpec]) async throws {
        let (connection, path) = (self.connection, self.path)
        try await withBusyRetry(path: path, doing: "installing the change log") { [worker] in
            try await worker.run {
                do {
                    _ = try SQLiteChangeLog.ensureInstalled(try connection.open(), collections, path: path)
                } catch let error as SQLiteError where !error.isTransient {
                    throw SQLiteErrors.map(error, path: path, doing: "installing the change log")
                }
            }
        }
    }

    public func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader {
        try await installChangeLog(for: collections)
        let (path, timeout) = (self.path, busyTimeoutMilliseconds)
        let (state, head) = try await withBusyRetry(path: path, doing: "starting a snapshot") { [worker] in
            try await worker.run { () throws -> (SQLiteSnapshotReader.State, Int64) in
                let db = try SQLiteConnectionSlot.openExisting(path, busyTimeoutMilliseconds: timeout)
                do {
                    try db.execute("BEGIN")
                    // The first read starts the read transaction and pins its WAL snapshot.
                    let head = try SQLiteChangeLog.head(db)
                    return (SQLiteSnapshotReader.State(db), head)
                } catch let error as SQLiteError where !error.isTransient {
                    throw SQLiteErrors.map(error, path: path, doing: "starting a snapshot")
                }
            }
        }
        return SQLiteSnapshotReader(worker: worker, state: state, path: path, position: String(head))
    }

    public func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        let stream = SQLiteChangeStream(worker: worker, connection: connection, collections: collections, after: position, follow: follow,
                                        batchLimit: batchLimit)
        return AsyncThrowingStream(unfolding: { try await stream.next() })
    }

    /// Deletes the change-log rows at or before `position` (a position the engine has checkpointed
    /// for every flow that reads this store) and returns how many it deleted. A later stream that
    /// asks for changes after an older position fails with ``ConnectorError/Kind/positionLost``.
    @discardableResult
    public func prune(upTo position: String) async throws -> Int {
        guard let seq = Int64(position), seq >= 0 else {
            throw ConnectorError(.permanent, "'\(position)' is not a SQLite change-log position")
        }
        let (connection, path) = (self.connection, self.path)
        return try await withBusyRetry(path: path, doing: "pruning the change log") { [worker] in
            try await worker.run {
                do {
                    return try SQLiteChangeLog.prune(try connection.open(), upTo: seq)
                } catch let error as SQLiteError where !error.isTransient {
                    throw SQLiteErrors.map(error, path: path, doing: "pruning the change log")
                }
            }
        }
    }
}

/// The state of one ``SQLiteSource/changes(of:after:follow:)`` sequence: its position, whether it
/// has checked the start position, and the idle backoff. Polls the change log with
/// `seq > position ORDER BY seq LIMIT batchLimit`, one ``SourceBatch`` per read.
///
/// Invariant: only the sequence's single consumer calls ``next()``, one call at a time.
actor SQLiteChangeStream {
    private let worker: BlockingWorker
    private let connection: SQLiteConnectionSlot
    private let specs: [String: CollectionSpec]
    private let startText: String
    private let follow: Bool
    private let batchLimit: Int
    private var position: Int64 = 0
    private var started = false
    private var finished = false
    /// Whether the last batch handed out said `caughtUp` (an idle poll then yields nothing).
    private var announcedCaughtUp = false
    private var schemaVersion: Int64 = -1
    /// The connection generation of the last read; a reopened file gets its position checked again.
    private var generation = -1
    private var idleDelayMilliseconds = minimumDelay

    static let minimumDelay = 10
    static let maximumDelay = 200
    static let maximumBusyAttempts = 50

    init(worker: BlockingWorker, connection: SQLiteConnectionSlot, collections: [CollectionSpec], after position: String, follow: Bool,
         batchLimit: Int) {
        self.worker = worker
        self.batchLimit = batchLimit
        self.connection = connection
        var specs: [String: CollectionSpec] = [:]
        for spec in collections { specs[spec.name] = spec }
        self.specs = specs
        self.startText = position
        self.follow = follow
    }

    /// What one read of the change log found.
    struct ReadResult: Sendable {
        var changes: [RowChange]
        var rowCount: Int
        var lastSeq: Int64
        var schemaVersion: Int64
        var generation: Int
    }

    func next() async throws -> SourceBatch? {
        if finished { return nil }
        if !started {
            guard let p = Int64(startText), p >= 0 else {
                finished = true
                throw ConnectorError(.positionLost, "'\(startText)' is not a SQLite change-log position (\(connection.path)) — run a resync")
            }
            position = p
        }
        var busyAttempts = 0
        var busyDelay = Self.minimumDelay
        while !Task.isCancelled {
            let result: ReadResult
            do {
                let (connection, specs, position, known, generation, limit) = (connection, specs, position, schemaVersion, generation, batchLimit)
                result = try await worker.run {
                    try SQLiteChangeStream.read(connection, specs, after: position, limit: limit, knownGeneration: generation, knownSchemaVersion: known)
                }
            } catch let error where SQLiteErrors.isBusy(error) {
                busyAttempts += 1
                if busyAttempts >= Self.maximumBusyAttempts {
                    throw SQLiteErrors.map(error, path: connection.path, doing: "reading the change log")
                }
                guard await pause(busyDelay) else { return nil }
                busyDelay = min(busyDelay * 2, Self.maximumDelay)
                continue
            } catch let error as SQLiteError {
                let connection = self.connection
                _ = try? await worker.run { connection.close() }
                throw SQLiteErrors.map(error, path: connection.path, doing: "reading the change log")
            }
            started = true
            schemaVersion = result.schemaVersion
            generation = result.generation
            if result.rowCount > 0 {
                position = result.lastSeq
                idleDelayMilliseconds = Self.minimumDelay
                let caughtUp = result.rowCount < batchLimit
                announcedCaughtUp = caughtUp
                if caughtUp && !follow { finished = true }
                return SourceBatch(changes: result.changes, position: String(position), caughtUp: caughtUp)
            }
            if !follow {
                finished = true
                return SourceBatch(changes: [], position: String(position), caughtUp: true)
            }
            if !announcedCaughtUp {
                announcedCaughtUp = true
                return SourceBatch(changes: [], position: String(position), caughtUp: true)
            }
            guard await pause(idleDelayMilliseconds) else { return nil }
            idleDelayMilliseconds = min(idleDelayMilliseconds * 2, Self.maximumDelay)
        }
        return nil
    }

    /// Sleeps; false when the task was cancelled meanwhile.
    private func pause(_ milliseconds: Int) async -> Bool {
        do {
            try await Task.sleep(for: .milliseconds(milliseconds))
            return !Task.isCancelled
        } catch {
            return false
        }
    }

    static let selectSQL = "SELECT seq, tbl, op, row, at, echo FROM _deltabridge_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"

    /// One read, on the worker: re-installs triggers after a schema change, checks the position
    /// against the log whenever the file was (re)opened, then reads the next rows after `position`.
    static func read(_ connection: SQLiteConnectionSlot, _ specs: [String: CollectionSpec], after position: Int64, limit: Int,
                     knownGeneration: Int, knownSchemaVersion: Int64) throws -> ReadResult {
        try connection.verifyFile()
        let db = try connection.open()
        let path = connection.path
        let checkStart = connection.generation != knownGeneration
        var version = try SQLiteSchema.schemaVersion(db)
        if version != knownSchemaVersion || checkStart {
            if try SQLiteChangeLog.ensureInstalled(db, Array(specs.values), path: path) {
                version = try SQLiteSchema.schemaVersion(db)
            }
        }
        if checkStart {
            let pruned = try SQLiteChangeLog.prunedThrough(db)
            if position < pruned {
                throw ConnectorError(.positionLost, "the SQLite change log of '\(path)' was pruned through \(pruned), past the saved position \(position) — run a resync")
            }
            let head = try SQLiteChangeLog.head(db)
            if position > head {
                throw ConnectorError(.positionLost, "the saved position \(position) is ahead of the SQLite change log of '\(path)' (head \(head)): the file was replaced or restored — run a resync")
            }
        }
        let s = try connection.statement(selectSQL)
        defer { s.reset() }
        try s.bind([.int(position), .int(Int64(limit))])
        var result = ReadResult(changes: [], rowCount: 0, lastSeq: position, schemaVersion: version, generation: connection.generation)
        while try s.step() {
            let seq = s.int64(0)
            result.rowCount += 1
            result.lastSeq = seq
            let table = s.text(1)
            guard let spec = specs[table] else { continue }
            guard let image = SQLiteValueMapping.decodeImage(s.text(3), jsonColumns: spec.jsonAttributes) else {
                throw ConnectorError(.permanent, "change-log row \(seq) of '\(path)' holds an unreadable row image — the change log is damaged; run a resync")
            }
            let isDelete = s.text(2) == "delete"
            var attributes = image
            if isDelete {
                var keyOnly: [String: Value] = [:]
                for key in spec.keyAttributes { keyOnly[key] = image[key] }
                if keyOnly.count == spec.keyAttributes.count { attributes = keyOnly }
            }
            result.changes.append(RowChange(collection: table, operation: isDelete ? .delete : .upsert, attributes: attributes,
                                            image: .full, commitTime: s.int64(4), isEcho: s.int64(5) != 0))
        }
        return result
    }
}
