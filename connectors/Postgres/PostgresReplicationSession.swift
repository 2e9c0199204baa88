import DeltaCore
import DeltaConnector

/// One logical replication session of a source: the replication connection streaming pgoutput
/// from the slot, a normal connection for catalog look-ups, and the assembly of transactions into
/// ``SourceBatch``es.
///
/// Positions are commit end LSNs (`0/16B3748`). Transactions whose commit starts before the
/// resume position are skipped (PostgreSQL re-sends some after a restart). Batches end on a
/// Commit, except for a transaction of more than ``batchLimit`` changes: it goes out in parts whose
/// position is the previous commit's plus the number of the transaction's changes handed out
/// (``PostgresPosition``), so that a stream resumed in the middle — after a crash or a lost
/// connection — skips what was delivered instead of replaying stale intermediate values.
///
/// The standby status updates report as flushed only ``confirmed``: the newest position the engine
/// acknowledged as durable (``PostgresAcknowledgement``) that this session handed out, never more.
///
/// Invariant: every method runs on the owning stream's worker (libpq is not thread-safe).
final class PostgresReplicationSession: @unchecked Sendable {
    let config: PostgresStoreConfig
    let collections: [CollectionSpec]
    let follow: Bool
    /// Changes per batch at most (also the size of the parts of a large transaction).
    let batchLimit: Int

    /// Standby status updates are sent at least this often (ms).
    static let statusInterval: Int64 = 10_000
    /// Empty batches that only move the position forward are yielded at most this often (ms).
    static let idleAdvanceInterval: Int64 = 10_000

    private var repl: PGConnection?
    private var admin: PGConnection?
    private let catalog = PostgresCatalog()
    private var decoder = PgOutputDecoder()
    private var changeDecoder: PostgresChangeDecoder

    /// Transactions whose commit starts before this were delivered already.
    private var resumeFrom: LSN
    /// The transaction to resume inside, and how many of its changes to skip.
    private var resumePartial: PostgresPosition.Partial?
    /// The position of the last batch handed to the consumer.
    private(set) var lastYielded: LSN
    /// Set when the last batch handed out ended inside a transaction.
    private var lastYieldedPartial: PostgresPosition.Partial?
    /// What the engine has made durable and this session handed out (or resumed from).
    private var confirmed: LSN
    /// The newest WAL position this connection's walsender has sent (records and keepalives).
    /// Status updates never report more than it: confirming a position the walsender's reader
    /// has not reached lets the server advance the slot's restart point past WAL that reader
    /// still needs, and recycle it ("requested WAL segment has already been removed").
    private var received = LSN.invalid
    /// follow == false: the server's flushed WAL position when the session began.
    private var target: LSN?
    private var lastStatusAt: Int64 = 0
    /// The flushed position of the last status update sent.
    private var lastSentFlush = LSN.invalid
    private var lastActivityAt: Int64 = 0
    private var lastIdleAdvanceAt: Int64 = 0
    private var lastHeartbeatAt: Int64 = 0
    /// When the last logical change (not a keepalive) arrived.
    private var lastChangeAt: Int64 = 0
    private var heartbeatFailed = false
    private var announcedCaughtUp = false
    private var started = false
    private(set) var finished = false
    private(set) var closed = false

    private var pending: [RowChange] = []
    /// The end of the last complete transaction taken into `pending` (or the last yielded position).
    private var pendingPosition: LSN
    private var transaction: Transaction?
    /// The server's position from a keepalive received outside a transaction.
    private var serverHead: LSN?

    /// The transaction being received.
    private struct Transaction {
        var skip: Bool
        var echo: Bool
        var commitTime: Int64?
        var changes: [RowChange]
        /// `BEGIN`'s final LSN: the transaction's commit LSN.
        var finalLSN: LSN
        /// Changes delivered before a resume, still to be skipped.
        var skipFirst = 0
        /// Changes handed out in parts so far (including skipped ones).
        var delivered = 0
    }

    /// What one ``step(maxWait:)`` produced.
    enum Step: Sendable {
        case batch(SourceBatch)
        case nothing
        case finished
    }

    /// Positions the engine has made durable (shared by the source's sessions).
    private let acknowledgement: PostgresAcknowledgement

    init(config: PostgresStoreConfig, collections: [CollectionSpec], after position: PostgresPosition, follow: Bool, batchLimit: Int,
         acknowledgement: PostgresAcknowledgement = PostgresAcknowledgement()) {
        let after = position.lsn
        self.acknowledgement = acknowledgement
        self.config = config
        self.collections = collections
        self.follow = follow
        self.batchLimit = max(1, batchLimit)
        self.resumeFrom = after
        self.resumePartial = position.partial
        self.lastYielded = after
        self.lastYieldedPartial = position.partial
        self.confirmed = after
        self.pendingPosition = after
        self.changeDecoder = PostgresChangeDecoder(config: config, collections: collections)
    }

    deinit { closeConnections() }

    /// Takes in what the engine has acknowledged since, up to what this session handed out.
    private func refreshConfirmed() {
        let acknowledged = min(acknowledgement.position, lastYielded)
        if acknowledged > confirmed { confirmed = acknowledged }
    }

    /// Closes the connections after a last status update, so that the slot remembers `confirmed`.
    func close() {
        guard !closed else { return }
        if started, let repl, repl.isOpen {
            refreshConfirmed()
            try? sendStatus(replyRequested: false)
        }
        closeConnections()
        closed = true
    }

    private func closeConnections() {
        repl?.close()
        repl = nil
        admin?.close()
        admin = nil
    }

    /// Drops the connections and all unconfirmed assembly state, to start again from the last
    /// yielded position (after a lost connection).
    func resetForReconnect() {
        closeConnections()
        started = false
        decoder.reset()
        changeDecoder = PostgresChangeDecoder(config: config, collections: collections)
        resumeFrom = lastYielded
        resumePartial = lastYieldedPartial
        pendingPosition = lastYielded
        pending = []
        transaction = nil
        serverHead = nil
        target = nil
    }

    /// Sends a status update if the last one is older than ``statusInterval``; false once closed.
    func sendStatusIfDue() -> Bool {
        guard !closed else { return false }
        guard started, let repl, repl.isOpen else { return true }
        refreshConfirmed()
        if Monotonic.milliseconds() - lastStatusAt >= Self.statusInterval || reportable > lastSentFlush { try? sendStatus(replyRequested: false) }
        return true
    }

    private func sendStatus(replyRequested: Bool) throws {
        guard let repl else { return }
        let flushed = reportable
        let update = PgStandbyStatusUpdate(written: flushed, flushed: flushed, applied: flushed,
                                           clock: Monotonic.unixMicros(), replyRequested: replyRequested)
        do {
            try repl.sendCopyData(update.encoded())
        } catch {
            throw ConnectorError(.transient, "\(config.label): the replication connection broke while sending a status update (\(error.message))")
        }
        lastStatusAt = Monotonic.milliseconds()
        lastSentFlush = flushed
    }

    /// What a status update may report as flushed (0/0, which the server ignores, until the
    /// walsender has sent something).
    private var reportable: LSN { min(confirmed, received) }

    // MARK: Starting

    /// Connects, checks the slot, and starts streaming from the resume position. Returns false
    /// when there is nothing to stream (follow == false and the server has nothing newer).
    private func start() throws -> Bool {
        let admin = try PGConnection.connect(url: config.url, replication: false, store: config.store)
        self.admin = admin
        var slot: PostgresAdmin.SlotInfo?
        let database: String
        do throws(PostgresServerError) {
            slot = try PostgresAdmin.slot(admin, config.slot)
            database = try PostgresAdmin.currentDatabase(admin)
            // A walsender that has just been left (the snapshot's, or ours before a reconnect)
            // may hold the slot a moment longer.
            let deadline = Monotonic.milliseconds() + 5_000
            while slot?.activePID != nil && Monotonic.milliseconds() < deadline {
                usleep(100_000)
                slot = try PostgresAdmin.slot(admin, config.slot)
            }
        } catch {
            throw PostgresAdmin.mapped(error, config, doing: "checking replication slot '\(config.slot)'")
        }
        guard let slot else {
            throw config.positionLost("replication slot '\(config.slot)' does not exist (it was dropped, or the server was restored or replaced)")
        }
        if slot.walStatus == "lost" {
            throw config.positionLost("replication slot '\(config.slot)' was invalidated: the WAL it needed was removed (max_slot_wal_keep_size)")
        }
        if slot.slotType != "logical" || slot.plugin != "pgoutput" || slot.database != database {
            throw ConnectorError(.permanent, "\(config.label): replication slot '\(config.slot)' is not a pgoutput slot of database '\(database)' — set `slot` to a name of its own, or drop that slot")
        }
        if let flushed = slot.confirmedFlush, flushed > resumeFrom {
            throw config.positionLost("replication slot '\(config.slot)' has confirmed \(flushed), past the saved position \(resumeFrom) (another client consumed it)")
        }
        try PostgresAdmin.ensurePublication(admin, config, collections.map { config.table($0.name) })

        let repl = try PGConnection.connect(url: config.url, replication: true, store: config.store)
        self.repl = repl
        received = .invalid
        lastSentFlush = .invalid
        do throws(PostgresServerError) {
            if !follow {
                let identify = try repl.exec("IDENTIFY_SYSTEM")
                let head = identify.value(0, 2).flatMap { LSN($0) } ?? LSN.invalid
                target = head
                if head <= resumeFrom { return false }
            }
            let publication = PostgresSQL.literal(PostgresSQL.ident(config.publication))
            try repl.exec("START_REPLICATION SLOT \(config.slot) LOGICAL \(resumeFrom) (proto_version '1', publication_names \(publication))")
        } catch {
            throw streamError(error, doing: "starting replication from slot '\(config.slot)' at \(resumeFrom)")
        }
        started = true
        lastStatusAt = Monotonic.milliseconds()
        lastActivityAt = lastStatusAt
        return true
    }

    /// Classifies an error of the replication connection.
    private func streamError(_ error: PostgresServerError, doing: String) -> ConnectorError {
        let m = error.message
        if error.sqlState == "42704" && m.contains("replication slot") {
            return config.positionLost("replication slot '\(config.slot)' does not exist")
        }
        if m.contains("can no longer get changes from replication slot") || m.contains("was invalidated") {
            return config.positionLost("replication slot '\(config.slot)' was invalidated (\(m))")
        }
        if error.connectionLost || error.isTransient {
            return ConnectorError(.transient, "\(config.label): replication connection lost while \(doing): \(error)")
        }
        return PostgresAdmin.mapped(error, config, doing: doing)
    }

    // MARK: Streaming

    /// Reads for at most `maxWait` ms and returns a batch when one is complete.
    func step(maxWait: Int64) throws -> Step {
        if finished || closed { return .finished }
        if !started {
            if try !start() {
                finished = true
                return .batch(emit(position: max(lastYielded, pendingPosition), caughtUp: true))
            }
        }
        guard let repl else { return .finished }
        let stepDeadline = Monotonic.milliseconds() + maxWait
        while true {
            refreshConfirmed()
            let now = Monotonic.milliseconds()
            if now - lastStatusAt >= Self.statusInterval || reportable > lastSentFlush { try sendStatus(replyRequested: false) }
            let hasOutput = !pending.isEmpty || pendingPosition > lastYielded
            let deadline = hasOutput && transaction == nil ? now : stepDeadline
            let read: PGConnection.CopyRead
            do {
                read = try repl.readCopyData(deadline: deadline)
            } catch {
                throw streamError(error, doing: "streaming from slot '\(config.slot)'")
            }
            switch read {
            case .ended(let error):
                if let error { throw streamError(error, doing: "streaming from slot '\(config.slot)'") }
                throw ConnectorError(.transient, "\(config.label): the server ended the replication stream")
            case .timeout:
                if transaction == nil, hasOutput {
                    return .batch(emit(position: pendingPosition, caughtUp: follow))
                }
                if follow {
                    if transaction == nil { beatIfIdle() }
                    if transaction == nil, let head = serverHead, head > lastYielded,
                       !announcedCaughtUp || Monotonic.milliseconds() - lastIdleAdvanceAt >= Self.idleAdvanceInterval {
                        lastIdleAdvanceAt = Monotonic.milliseconds()
                        announcedCaughtUp = true
                        pendingPosition = head
                        return .batch(emit(position: head, caughtUp: true))
                    }
                } else if Monotonic.milliseconds() - lastActivityAt >= 1000 {
                    // Ask where the server is (its keepalive answers at once).
                    try sendStatus(replyRequested: true)
                    lastActivityAt = Monotonic.milliseconds()
                }
                return .nothing
            case .data(let bytes):
                lastActivityAt = Monotonic.milliseconds()
                if let step = try handle(frame: bytes) { return step }
            }
        }
    }

    /// Writes the heartbeat row when the stream has been idle for the configured interval. A
    /// failure (no privilege, read-only server) is warned about once and turns heartbeats off.
    private func beatIfIdle() {
        guard let interval = config.heartbeatInterval, !heartbeatFailed, let admin else { return }
        let now = Monotonic.milliseconds()
        guard now - max(lastChangeAt, lastHeartbeatAt) >= interval else { return }
        lastHeartbeatAt = now
        let table = PostgresSQL.table(config.heartbeatTable)
        do throws(PostgresServerError) {
            try admin.exec("CREATE TABLE IF NOT EXISTS \(table) (slot text PRIMARY KEY, beat_at timestamptz NOT NULL)")
            try admin.exec("INSERT INTO \(table) VALUES ($1, now()) ON CONFLICT (slot) DO UPDATE SET beat_at = excluded.beat_at", [config.slot])
            // Ask for a keepalive now, so the new server position arrives without waiting for
            // the walsender's own (every wal_sender_timeout / 2).
            try? sendStatus(replyRequested: true)
        } catch {
            heartbeatFailed = true
            config.warn("\(config.label): heartbeat write to \(table) failed (\(error.message)) — grant the user CREATE on schema \(config.schema) and INSERT/UPDATE on the table, or remove heartbeat_interval; heartbeats are off until restart")
        }
    }

    /// Takes one CopyData message; a step when a batch is ready.
    private func handle(frame: [UInt8]) throws -> Step? {
        let message: PgReplicationMessage
        do {
            message = try PgOutputDecoder.decodeFrame(frame)
        } catch {
            throw ConnectorError(.transient, "\(config.label): \(error) in the replication stream; reconnecting")
        }
        switch message {
        case let .keepalive(walEnd, _, replyRequested):
            received = max(received, walEnd)
            if transaction == nil { serverHead = max(serverHead ?? walEnd, walEnd) }
            if let target, !follow, transaction == nil, walEnd >= target {
                finished = true
                return .batch(emit(position: max(pendingPosition, walEnd), caughtUp: true))
            }
            if replyRequested || !follow { try sendStatus(replyRequested: false) }
            if follow, replyRequested, transaction == nil, walEnd > lastYielded {
                // The server waits for a confirmation (at shutdown it waits for all it sent):
                // everything up to its position is delivered, so hand that position to the
                // consumer; once it has checkpointed it, the next status update confirms it.
                lastIdleAdvanceAt = Monotonic.milliseconds()
                announcedCaughtUp = true
                return .batch(emit(position: max(pendingPosition, walEnd), caughtUp: true))
            }
            return nil
        case let .xLogData(_, walEnd, _, payload):
            received = max(received, walEnd)
            lastChangeAt = Monotonic.milliseconds()
            let decoded: PgOutputMessage
            do {
                decoded = try decoder.decodeMessage(payload)
            } catch {
                throw ConnectorError(.transient, "\(config.label): \(error) in the replication stream; reconnecting")
            }
            return try handle(decoded)
        }
    }

    private func handle(_ message: PgOutputMessage) throws -> Step? {
        switch message {
        case let .begin(begin):
            var tx = Transaction(skip: begin.finalLSN < resumeFrom, echo: false, commitTime: begin.commitTime, changes: [], finalLSN: begin.finalLSN)
            if let partial = resumePartial, partial.transaction == begin.finalLSN {
                tx.skipFirst = partial.delivered
                tx.delivered = partial.delivered
            }
            transaction = tx
        case let .origin(origin):
            if origin.name == config.origin { transaction?.echo = true }
        case let .relation(relation):
            changeDecoder.relation(relation, types: decoder.types, catalog: catalog, conn: admin)
        case .type, .message:
            break
        case .insert, .update, .delete, .truncate:
            guard transaction != nil else {
                throw ConnectorError(.transient, "\(config.label): a row change outside a transaction in the replication stream; reconnecting")
            }
            if transaction!.skip { return nil }
            var decoded = try changeDecoder.changes(message, commitTime: transaction!.commitTime, isEcho: transaction!.echo)
            // Taken out while it grows, so that its changes have one owner and appending does not
            // copy them (a copy per row made large transactions quadratic).
            var tx = transaction!
            transaction = nil
            if tx.skipFirst > 0 {
                // Delivered before the resume (PostgreSQL re-sends the transaction whole).
                let drop = min(tx.skipFirst, decoded.count)
                decoded.removeFirst(drop)
                tx.skipFirst -= drop
            }
            tx.changes += decoded
            transaction = tx
            if pending.count + tx.changes.count >= batchLimit {
                // A large transaction: hand out what we have, at the previous commit's position
                // plus the count of this transaction's changes delivered.
                var part = pending
                part += tx.changes
                let partial = PostgresPosition.Partial(transaction: tx.finalLSN, delivered: tx.delivered + tx.changes.count)
                pending = []
                transaction?.changes = []
                transaction?.delivered = partial.delivered
                lastYielded = pendingPosition
                lastYieldedPartial = partial
                return .batch(SourceBatch(changes: part, position: PostgresPosition(lsn: pendingPosition, partial: partial).description, caughtUp: false))
            }
        case let .commit(commit):
            let tx = transaction
            transaction = nil
            if let tx, !tx.skip {
                pending += tx.changes
                pendingPosition = max(pendingPosition, commit.endLSN)
            }
            if let target, !follow, commit.endLSN >= target {
                finished = true
                return .batch(emit(position: pendingPosition, caughtUp: true))
            }
            if pending.count >= batchLimit {
                return .batch(emit(position: pendingPosition, caughtUp: false))
            }
        }
        return nil
    }

    /// Hands out `pending` at `position`.
    private func emit(position: LSN, caughtUp: Bool) -> SourceBatch {
        let batch = SourceBatch(changes: pending, position: position.description, caughtUp: caughtUp)
        pending = []
        pendingPosition = position
        lastYielded = position
        lastYieldedPartial = nil
        return batch
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
