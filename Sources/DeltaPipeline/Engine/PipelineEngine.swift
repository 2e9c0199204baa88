import DeltaConnector
import DeltaCore
import DeltaLedger
import Foundation
import Logging

/// Runs every flow of one pipeline: for each source a snapshot, then its change stream, each
/// batch processed under one gate so that batches plan against the ledger state their
/// predecessors left. A batch's ledger commit is written while the next batch is read, planned
/// and applied (``CommitQueue``); a source reads its next batch while the engine processes one.
///
/// Invariants: a source resumes from its last committed checkpoint (never from "now"); a
/// transient failure of one store retries that source with backoff while other sources go on;
/// a permanent failure stops only the flow it belongs to, with the reason in its status.
public final class PipelineEngine: Sendable {
    public let config: PipelineConfig
    let ledger: any Ledger
    let ledgerWorker = BlockingWorker(label: "ledger")
    /// Document reads, apart from `ledgerWorker` so that they go on while a commit is written.
    let readWorker = BlockingWorker(label: "ledger-read")
    let commits = CommitQueue()
    let sinks: [StoreID: any SinkConnector]
    let sources: [String: any SourceConnector]
    let gate = AsyncGate()
    let logger: Logger
    /// Sources whose store no other flow reads, so their change log may be pruned after checkpoints.
    let prunable: Set<String>

    /// Totals of a ``runOnce(maxRounds:)`` call.
    public struct Summary: Sendable, Equatable {
        public var events = 0
        public var deltas = 0
        public var patchesApplied = 0
        public var guardsFailed = 0
        public var deadLetters = 0
        public var rounds = 0
        public var stoppedFlows: [String] = []
    }

    public init(config: PipelineConfig, registry: ConnectorRegistry, logger: Logger, ledger: (any Ledger)? = nil) throws {
        self.config = config
        self.logger = logger
        if let ledger {
            self.ledger = ledger
        } else {
            try FileManager.default.createDirectory(atPath: (config.ledgerPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            self.ledger = try SQLiteLedger(path: config.ledgerPath, options: .init(keepHistory: config.options.history))
        }
        var sinks = [StoreID: any SinkConnector]()
        var sources = [String: any SourceConnector]()
        for flow in config.flows {
            for store in flow.direction.stores {
                guard let settings = config.store(store) else {
                    throw ConnectorError(.permanent, "\(flow.location): flow '\(flow.name)' names store '\(store)' which is not defined — add it under stores:")
                }
                let factory = try registry.factory(for: settings)
                if flow.direction.sources.contains(store) {
                    sources[PipelineEngine.scope(flow, store)] = try factory.makeSource(settings)
                }
                let needsSink = flow.direction.isTwoWay || flow.direction.stores.contains { flow.direction.targets(of: $0).contains(store) }
                if needsSink, sinks[store] == nil { sinks[store] = try factory.makeSink(settings) }
            }
        }
        self.sinks = sinks
        self.sources = sources
        var readers = [StoreID: Int]()
        for flow in config.flows { for s in flow.direction.sources { readers[s, default: 0] += 1 } }
        self.prunable = Set(config.flows.flatMap { flow in
            flow.direction.sources.filter { readers[$0] == 1 }.map { PipelineEngine.scope(flow, $0) }
        })
    }

    /// Tells every sink the collections it writes (key and JSON attributes) before the first batch.
    func prepareSinks() async throws {
        try await createMissingCollections()
        var specs = [StoreID: [CollectionSpec]]()
        for flow in config.flows {
            for store in flow.direction.stores {
                specs[store, default: []] += flow.collections.compactMap { $0.mapping(for: store)?.spec }
            }
        }
        for (store, sink) in sinks { try await sink.prepare(collections: specs[store] ?? []) }
    }

    /// `create: true`: each such target collection that is missing is created from the columns of
    /// the flow's first source that can describe its own (renamed, include/exclude applied).
    func createMissingCollections() async throws {
        for flow in config.flows {
            for mapping in flow.collections {
                for target in flow.direction.stores {
                    guard let targetMapping = mapping.mapping(for: target), targetMapping.spec.createIfMissing, let sink = sinks[target] else { continue }
                    guard let creator = sink as? any CollectionCreating else {
                        throw ConnectorError(.permanent, "\(targetMapping.location): store '\(target)' cannot create missing tables — create \(targetMapping.spec.name) yourself, or remove `create: true`")
                    }
                    var described: (StoreID, StoreMapping, [ColumnDescription])?
                    for source in flow.direction.sources where source != target {
                        guard let sourceMapping = mapping.mapping(for: source),
                              let describer = sources[PipelineEngine.scope(flow, source)] as? any CollectionDescribing else { continue }
                        described = (source, sourceMapping, try await describer.describe(sourceMapping.spec))
                        break
                    }
                    guard let (source, sourceMapping, columns) = described else {
                        throw ConnectorError(.permanent, "\(targetMapping.location): no source of flow '\(flow.name)' can describe \(mapping.namespace.name)'s columns for `create: true` — create \(targetMapping.spec.name) yourself")
                    }
                    var renamed = [ColumnDescription]()
                    for var column in columns {
                        let logical = sourceMapping.logicalName(column.name)
                        guard mapping.admits(logical) else { continue }
                        column.name = targetMapping.storeName(logical)
                        if targetMapping.spec.keyAttributes.contains(column.name) { column.nullable = false }
                        renamed.append(column)
                    }
                    if try await creator.createIfMissing(targetMapping.spec, columns: renamed) {
                        logger.notice("created \(targetMapping.spec.name) in store '\(target)' from the columns of \(sourceMapping.spec.name) in '\(source)'")
                    }
                }
            }
        }
    }

    static func scope(_ flow: FlowConfig, _ store: StoreID) -> String { "\(flow.name)/\(store.name)" }

    static func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }

    /// Catches every flow up and returns: snapshots what has none, streams each source until it
    /// has caught up, and repeats while a round still wrote something (two-way write-backs).
    public func runOnce(maxRounds: Int = 10) async throws -> Summary {
        var summary = Summary()
        try await prepareSinks()
        var stopped = Set<String>()
        for round in 1...maxRounds {
            summary.rounds = round
            var roundPatches = 0
            for flow in config.flows where !stopped.contains(flow.name) {
                for source in flow.direction.sources {
                    do {
                        let r = try await runSource(flow, source, follow: false, maxAttempts: 6)
                        summary.events += r.events
                        summary.deltas += r.deltas
                        summary.patchesApplied += r.patchesApplied
                        summary.guardsFailed += r.guardsFailed
                        summary.deadLetters += r.rejected
                        roundPatches += r.patchesApplied
                    } catch let error as ConnectorError where error.kind != .transient {
                        stopped.insert(flow.name)
                        summary.stoppedFlows.append("\(flow.name): \(error.message)")
                        break
                    }
                }
            }
            if roundPatches == 0 { break }
        }
        try await compactTombstones()
        return summary
    }

    /// Forgets documents deleted longer ago than `tombstone_retention` (DESIGN rule 6). A change
    /// older than the window that arrives after compaction can bring such a document back.
    func compactTombstones() async throws {
        let ledger = self.ledger
        let cutoff = PipelineEngine.nowMicros() - config.options.tombstoneRetention
        let removed = try await ledgerWorker.run { try ledger.compactTombstones(olderThan: cutoff) }
        if removed > 0 { logger.info("compacted \(removed) tombstones older than \(DurationText.format(config.options.tombstoneRetention))") }
    }

    /// Runs every source of every flow until the task is cancelled (SIGINT/SIGTERM drain: the
    /// batch in progress completes and is checkpointed, then the sources stop).
    public func run() async throws {
        try await prepareSinks()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await self.compactTombstones()
                    } catch {
                        self.logger.warning("tombstone compaction failed: \(error)")
                    }
                    do { try await Task.sleep(nanoseconds: 600_000_000_000) } catch { return }
                }
            }
            for flow in config.flows {
                for source in flow.direction.sources {
                    group.addTask {
                        do {
                            _ = try await self.runSource(flow, source, follow: true, maxAttempts: nil)
                        } catch let error as ConnectorError where error.kind != .transient {
                            self.logger.error("flow \(flow.name) stopped: \(error.message)")
                        } catch is CancellationError {
                            return
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Totals for one source run.
    struct SourceRun: Sendable {
        var events = 0
        var deltas = 0
        var patchesApplied = 0
        var guardsFailed = 0
        var rejected = 0
    }

    /// Runs one source: retries transient errors with exponential backoff (0.2 s doubling to
    /// 30 s); `maxAttempts` nil retries forever.
    func runSource(_ flow: FlowConfig, _ store: StoreID, follow: Bool, maxAttempts: Int?) async throws -> SourceRun {
        var attempt = 0
        var delay: UInt64 = 200_000_000
        while true {
            do {
                let r = try await streamSource(flow, store, follow: follow)
                if attempt > 0 { try await setStatus(flow, store) { $0.state = .running; $0.reason = nil } }
                return r
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as ConnectorError where error.kind != .transient {
                logger.error("\(flow.name)/\(store): \(error.message)")
                try? await setStatus(flow, store) { $0.state = .stopped; $0.reason = error.message }
                throw error
            } catch let error as LedgerError {
                try? await setStatus(flow, store) { $0.state = .stopped; $0.reason = error.message }
                throw ConnectorError(.permanent, error.message)
            } catch {
                attempt += 1
                let reason = String(describing: error)
                if let maxAttempts, attempt >= maxAttempts {
                    try? await setStatus(flow, store) { $0.state = .stopped; $0.reason = reason }
                    throw ConnectorError(.permanent, "\(flow.name)/\(store) gave up after \(attempt) attempts: \(reason)")
                }
                logger.warning("\(flow.name)/\(store): \(reason) — retrying in \(Double(delay) / 1e9) s")
                try? await setStatus(flow, store) { $0.state = .retrying; $0.reason = reason }
                try await Task.sleep(nanoseconds: delay)
                delay = min(delay * 2, 30_000_000_000)
            }
        }
    }

    private func loadCheckpoint(_ flow: FlowConfig, _ store: StoreID) async throws -> Checkpoint? {
        let ledger = self.ledger
        let pipeline = config.name
        let scope = PipelineEngine.scope(flow, store)
        return try await ledgerWorker.run { try ledger.checkpoint(pipeline: pipeline, scope: scope) }
    }

    /// Updates the status JSON of a source's checkpoint (creating an empty checkpoint if needed),
    /// after the commit in flight, so that it never writes back an older position.
    func setStatus(_ flow: FlowConfig, _ store: StoreID, _ change: @escaping @Sendable (inout FlowStatus) -> Void) async throws {
        try await gate.withGate {
            await self.commits.settle()
            var checkpoint = try await self.loadCheckpoint(flow, store)
                ?? Checkpoint(pipeline: self.config.name, scope: PipelineEngine.scope(flow, store), position: "", updatedAt: PipelineEngine.nowMicros())
            var status = FlowStatus(json: checkpoint.extra)
            change(&status)
            checkpoint.extra = status.json
            let ledger = self.ledger
            let c = checkpoint
            try await self.ledgerWorker.run { try ledger.commit(LedgerBatch(checkpoints: [c])) }
        }
    }

    /// Waits until every batch in flight has been applied and committed, or has failed.
    func settleCommits() async {
        _ = try? await gate.withGate { await self.commits.settle() }
    }

    /// Plans one batch under the gate, against the ledger as the batches in flight will leave it,
    /// and queues it to be applied and committed (``CommitQueue``) while the next batch is
    /// planned; once durable, `acknowledging` (when given) hears that `position` is, and
    /// `progress` counts the batch (`durable`: the position pruning may use).
    ///
    /// A batch of this source that failed (or was planned on one that failed) stops the run with
    /// its error (through `progress`); the run then resumes from its checkpoint.
    private func processBatch(_ processor: BatchProcessor, _ changes: [RowChange], clock: HybridClock, checkpoint: Checkpoint,
                              acknowledging: (any PositionAcknowledging)?, position: String, durable: String?,
                              progress: SourceProgress, unknownToLedger: Bool = false) async throws -> HybridClock {
        try await gate.withGate {
            try progress.check()
            var clk = clock
            let inFlight = self.commits.overlays
            let prepared = try await processor.prepare(changes, clock: &clk, checkpoint: checkpoint, now: PipelineEngine.nowMicros(),
                                                       pending: inFlight.overlays, unknownToLedger: unknownToLedger)
            let (ledger, worker) = (self.ledger, self.ledgerWorker)
            let events = changes.count
            let id = try self.commits.start(CommitQueue.Overlay(batch: prepared.batch), plannedOn: inFlight.ids) {
                try await processor.apply(prepared)
            } commit: { processed in
                if !processed.batch.isEmpty { try await worker.run { try ledger.commit(processed.batch) } }
                acknowledging?.acknowledge(position)
                progress.add(processed.result, events: events, durable: durable)
            } failed: { error in
                progress.fail(error)
            }
            // Guards and echoes of the next batch need this one's write records.
            if prepared.recordsWrites { try await self.commits.awaitApplied(id) }
            await self.commits.bound()
            return clk
        }
    }

    private func specs(_ flow: FlowConfig, _ store: StoreID) -> [CollectionSpec] {
        flow.collections.compactMap { $0.mapping(for: store)?.spec }
    }

    /// ``streamSourceBatches(_:_:follow:)``, returning only once its last commit is durable (also
    /// when it fails or is cancelled: SIGTERM drains the batch in flight).
    private func streamSource(_ flow: FlowConfig, _ store: StoreID, follow: Bool) async throws -> SourceRun {
        do {
            return try await streamSourceBatches(flow, store, follow: follow)
        } catch {
            await settleCommits()
            throw error
        }
    }

    private func streamSourceBatches(_ flow: FlowConfig, _ store: StoreID, follow: Bool) async throws -> SourceRun {
        let scope = PipelineEngine.scope(flow, store)
        guard let source = sources[scope] else { return SourceRun() }
        let sourceStores = Set(config.flows.flatMap(\.direction.sources))
        let processor = BatchProcessor(pipeline: config.name, flow: flow, source: store, ledger: ledger, readWorker: readWorker,
                                       sinks: sinks, sourceStores: sourceStores, keepsDeltas: config.options.history, logger: logger)
        var checkpoint = try await loadCheckpoint(flow, store)
            ?? Checkpoint(pipeline: config.name, scope: scope, position: "", updatedAt: PipelineEngine.nowMicros())
        var clock = HybridClock(origin: store, maxClockSkew: config.options.maxClockSkew,
                                lastTime: checkpoint.clockTime, lastCounter: checkpoint.clockCounter)
        let progress = SourceProgress()
        var status = FlowStatus(json: checkpoint.extra)
        status.state = .running
        status.reason = nil
        let collections = specs(flow, store)

        if checkpoint.position.isEmpty {
            // Snapshot: rows as of one instant, then stream from that instant's position.
            logger.info("\(scope): snapshot of \(collections.map(\.name).joined(separator: ", "))")
            let reader = try await source.beginSnapshot(of: collections)
            do {
                var total: Int64 = 0
                for c in collections { total += Int64(try await reader.estimatedCount(c) ?? 0) }
                status.phase = .snapshot
                status.snapshotDone = 0
                status.snapshotTotal = total
                let limit = config.options.snapshotChunkSize
                let ledger = self.ledger
                for collection in collections {
                    // A one-way flow's namespace has one writer, this source; while the ledger
                    // holds none of its documents, the snapshot's (each read once, in key order)
                    // are all new, and reading their states back would only find nothing.
                    var unknownToLedger = false
                    if !flow.direction.isTwoWay, let namespace = flow.collections.first(where: { $0.mapping(for: store)?.spec.name == collection.name })?.namespace {
                        unknownToLedger = try await readWorker.run { try ledger.keys(namespace, after: nil, limit: 1).isEmpty }
                    }
                    // One chunk is read ahead while the previous one is processed (the reader
                    // works on its own thread); never more, so memory stays bounded.
                    var ahead: Task<SnapshotChunk, any Error>? = Task { try await reader.read(collection, after: nil, limit: limit) }
                    defer { ahead?.cancel() }
                    var cursor: String?
                    repeat {
                        let chunk = try await ahead!.value
                        cursor = chunk.cursor
                        ahead = cursor.map { next in Task { try await reader.read(collection, after: next, limit: limit) } }
                        status.snapshotDone += Int64(chunk.rows.count)
                        var c = checkpoint
                        c.extra = status.json
                        clock = try await processBatch(processor, chunk.rows, clock: clock, checkpoint: c, acknowledging: nil, position: "",
                                                       durable: nil, progress: progress,
                                                       unknownToLedger: unknownToLedger)
                        checkpoint.clockTime = clock.lastTime
                        checkpoint.clockCounter = clock.lastCounter
                        checkpoint.appliedEvents += Int64(chunk.rows.count)
                    } while cursor != nil
                }
                checkpoint.position = reader.position
                await reader.close()
            } catch {
                await reader.close()
                throw error
            }
            status.phase = .streaming
            checkpoint.extra = status.json
            let ledger = self.ledger
            let c = checkpoint
            try await gate.withGate {
                await self.commits.settle()
                try progress.check()
                try await self.ledgerWorker.run { try ledger.commit(LedgerBatch(checkpoints: [c])) }
            }
            logger.info("\(scope): snapshot done (\(status.snapshotDone) rows), streaming from \(checkpoint.position)")
        }

        status.phase = .streaming
        var windowStart = Date()
        var windowEvents = 0
        let acknowledging = source as? any PositionAcknowledging
        let pruning = prunable.contains(scope) ? source as? any ChangeLogPruning : nil
        try await ReadAhead.run(source.changes(of: collections, after: checkpoint.position, follow: follow)) { next, interrupt in
            // A failing batch wakes the loop even while the stream is idle.
            progress.onFailure(interrupt)
            defer { progress.onFailure(nil) }
            while let batch = try await next() {
                try Task.checkCancellation()
                var c = checkpoint
                c.position = batch.position
                windowEvents += batch.changes.count
                let elapsed = Date().timeIntervalSince(windowStart)
                if elapsed >= 1 {
                    status.eventsPerSecond = Double(windowEvents) / elapsed
                    windowStart = Date()
                    windowEvents = 0
                }
                c.extra = status.json
                clock = try await processBatch(processor, batch.changes, clock: clock, checkpoint: c, acknowledging: acknowledging,
                                               position: batch.position, durable: pruning == nil ? nil : batch.position,
                                               progress: progress)
                checkpoint = c
                checkpoint.clockTime = clock.lastTime
                checkpoint.clockCounter = clock.lastCounter
                checkpoint.appliedEvents += Int64(batch.changes.count)
                if let pruning, let durable = progress.takeDurable() { try await pruning.prune(upTo: durable) }
            }
        }
        await settleCommits()
        try progress.check()
        if let pruning, let durable = progress.takeDurable() { try await pruning.prune(upTo: durable) }
        return progress.run
    }
}
