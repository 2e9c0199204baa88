import DeltaConnector
import DeltaCore
import DeltaLedger
@testable import DeltaPipeline
import Foundation
import Logging
import Synchronization
import Testing

/// The engine writes a batch's ledger commit while the next batch is read and planned: these
/// tests hold each commit back until the next batch has read the ledger, so that a batch which
/// did not see its predecessor's uncommitted work would plan against a stale state.
@Suite("Engine: commit of one batch overlapping the next")
struct EngineOverlapTests {
    @Test("consecutive batches of one document diff against the state the batch before left, not the committed one")
    func consecutiveBatchesSeeUncommittedState() async throws {
        let changes: [RowChange] = [
            row(1, ["name": .string("a"), "qty": .int(1)]),
            row(1, ["name": .string("a"), "qty": .int(2)]),
            row(1, ["name": .string("b"), "qty": .int(2)]),
            RowChange(collection: "items", operation: .delete, attributes: ["id": .int(1)]),
            row(1, ["name": .string("c"), "qty": .int(3)]),
        ]
        let run = try await runPipeline(changes, twoWay: false)
        // One delta per changed attribute: 3 (create), 1, 1, 1 (tombstone), 3 (re-create).
        #expect(run.summary.deltas == 9)
        #expect(run.summary.events == 5)
        #expect(run.sinkRows == [DocumentKey(.int(1)): ["id": .int(1), "name": .string("c"), "qty": .int(3)]])
        #expect(run.actions == ["replace", "upsert", "upsert", "delete", "replace"])
        #expect(run.overlappedCommits == 4, "each batch but the last is committed after the next one read the ledger")
        let state = try run.ledger.states("items", [DocumentKey(.int(1))]).values.first
        #expect(state?.liveValues == ["id": .int(1), "name": .string("c"), "qty": .int(3)])
        #expect(try run.ledger.checkpoint(pipeline: "overlap", scope: "f/src")?.position == "5")
    }

    @Test("two-way: the write records of the batch in flight guard the next batch's patches")
    func writeRecordsOfTheCommitInFlightGuard() async throws {
        let changes: [RowChange] = [
            row(1, ["name": .string("a")]),
            row(1, ["name": .string("b")]),
            row(1, ["name": .string("c")]),
        ]
        let run = try await runPipeline(changes, twoWay: true)
        #expect(run.summary.guardsFailed == 0)
        #expect(run.sinkRows == [DocumentKey(.int(1)): ["id": .int(1), "name": .string("c")]])
        // Each update is guarded by what the bridge wrote to the target in the batch before.
        #expect(Array(run.guards.dropFirst()) == [["id": .int(1), "name": .string("a")], ["id": .int(1), "name": .string("b")]])
        #expect(run.overlappedCommits == 2)
    }

    // MARK: - Harness

    struct Run {
        var summary: PipelineEngine.Summary
        var sinkRows: [DocumentKey: [String: Value]]
        var actions: [String]
        var guards: [[String: Value?]]
        var ledger: any Ledger
        var overlappedCommits: Int
    }

    func row(_ id: Int64, _ values: [String: Value]) -> RowChange {
        var attributes = values
        attributes["id"] = .int(id)
        return RowChange(collection: "items", operation: .upsert, attributes: attributes, image: .full)
    }

    func runPipeline(_ changes: [RowChange], twoWay: Bool) async throws -> Run {
        let folder = try EngineTestFolder()
        defer { folder.remove() }
        let factory = MemoryFactory(changes: changes)
        let registry = ConnectorRegistry([factory])
        let config = try folder.pipeline("overlap", storeType: "memory", flow: twoWay ? "two_way: [src, dst]" : "from: src\n    to: dst",
                                         registry: registry)
        let ledger = HeldCommitLedger(try SQLiteLedger(path: folder.path + "/ledger.sqlite"), streamed: changes.count)
        let engine = try PipelineEngine(config: config, registry: registry, logger: Logger(label: "test"), ledger: ledger)
        let summary = try await engine.runOnce()
        let sink = factory.sinks.withLock { $0["dst"]! }
        return Run(summary: summary, sinkRows: sink.rows.withLock { $0 }, actions: sink.actions.withLock { $0 },
                   guards: sink.guards.withLock { $0 }, ledger: ledger, overlappedCommits: ledger.overlappedCommits)
    }
}

/// A ledger that holds back the commit of each streamed batch but the last (positions 1 to
/// `streamed` - 1) until the next batch has read the ledger, so that the engine's overlap of one
/// batch's commit with the next batch is exercised every time. Batch `p` is the `p`-th document
/// read. A serial engine reads only after the commit: then each hold ends at a long bound and
/// `overlappedCommits` stays 0.
final class HeldCommitLedger: Ledger, @unchecked Sendable {
    let base: SQLiteLedger
    let streamed: Int
    private let condition = NSCondition()
    private var reads = 0
    private var overlapped = 0

    init(_ base: SQLiteLedger, streamed: Int) {
        self.base = base
        self.streamed = streamed
    }

    /// Commits that the next batch's read overtook.
    var overlappedCommits: Int {
        condition.lock()
        defer { condition.unlock() }
        return overlapped
    }

    func commit(_ batch: LedgerBatch) throws -> [DocumentRef: Merge.Outcome] {
        if let position = batch.checkpoints.first.flatMap({ Int($0.position) }), position >= 1, position < streamed, batch.mergedDocuments?.isEmpty == false {
            condition.lock()
            let deadline = Date().addingTimeInterval(10)
            while reads <= position && condition.wait(until: deadline) {}
            if reads > position { overlapped += 1 }
            condition.unlock()
        }
        return try base.commit(batch)
    }

    func stateList(_ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentState] {
        condition.lock()
        reads += 1
        condition.broadcast()
        condition.unlock()
        return try base.stateList(namespace, keys)
    }

    func states(_ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentKey: DocumentState] { try base.states(namespace, keys) }
    func checkpoint(pipeline: String, scope: String) throws -> Checkpoint? { try base.checkpoint(pipeline: pipeline, scope: scope) }
    func checkpoints(pipeline: String) throws -> [Checkpoint] { try base.checkpoints(pipeline: pipeline) }
    func deleteCheckpoints(pipeline: String, scopePrefix: String) throws { try base.deleteCheckpoints(pipeline: pipeline, scopePrefix: scopePrefix) }
    func history(_ namespace: Namespace, _ key: DocumentKey) throws -> [Delta] { try base.history(namespace, key) }
    func writes(store: StoreID, _ namespace: Namespace, _ key: DocumentKey) throws -> [AttributeName: AttributeState] {
        try base.writes(store: store, namespace, key)
    }
    func writeList(store: StoreID, _ refs: [DocumentRef]) throws -> [[AttributeName: AttributeState]] { try base.writeList(store: store, refs) }
    func images(store: StoreID, _ namespace: Namespace, _ keys: [DocumentKey]) throws -> [DocumentKey: [AttributeName: Value]] {
        try base.images(store: store, namespace, keys)
    }
    func imageList(store: StoreID, _ namespace: Namespace, _ keys: [DocumentKey]) throws -> [[AttributeName: Value]?] {
        try base.imageList(store: store, namespace, keys)
    }
    func deadLetters(pipeline: String?, limit: Int) throws -> [DeadLetter] { try base.deadLetters(pipeline: pipeline, limit: limit) }
    func keys(_ namespace: Namespace, after: DocumentKey?, limit: Int) throws -> [DocumentKey] { try base.keys(namespace, after: after, limit: limit) }
    func compactTombstones(olderThan cutoff: Int64) throws -> Int { try base.compactTombstones(olderThan: cutoff) }
    func statistics() throws -> LedgerStatistics { try base.statistics() }
}

/// `type: memory`: a source that streams scripted changes one per batch (an empty snapshot),
/// and a sink that keeps rows in memory and checks guards like a real store.
final class MemoryFactory: ConnectorFactory, @unchecked Sendable {
    let type = "memory"
    let settingKeys: Set<String> = []
    let changes: [RowChange]
    let sinks = Mutex<[String: MemorySink]>([:])

    init(changes: [RowChange]) { self.changes = changes }

    func makeSource(_ settings: StoreSettings) throws -> any SourceConnector {
        MemorySource(store: settings.name, changes: settings.name == "src" ? changes : [])
    }

    func makeSink(_ settings: StoreSettings) throws -> any SinkConnector {
        let sink = MemorySink(store: settings.name)
        sinks.withLock { $0[settings.name.name] = sink }
        return sink
    }
}

final class MemorySource: SourceConnector {
    let store: StoreID
    let changes: [RowChange]

    init(store: StoreID, changes: [RowChange]) {
        self.store = store
        self.changes = changes
    }

    func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader { EmptySnapshot() }

    func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        let start = Int(position) ?? 0
        let pending = Array(changes.enumerated().dropFirst(start))
        return AsyncThrowingStream { continuation in
            for (i, change) in pending {
                continuation.yield(SourceBatch(changes: [change], position: String(i + 1), caughtUp: i + 1 == changes.count))
            }
            continuation.finish()
        }
    }
}

final class EmptySnapshot: SnapshotReader {
    let position = "0"
    func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk { SnapshotChunk(rows: [], cursor: nil) }
    func estimatedCount(_ collection: CollectionSpec) async throws -> Int? { 0 }
    func close() async {}
}

final class MemorySink: SinkConnector {
    let store: StoreID
    let rows = Mutex<[DocumentKey: [String: Value]]>([:])
    let actions = Mutex<[String]>([])
    let guards = Mutex<[[String: Value?]]>([])

    init(store: StoreID) { self.store = store }

    func prepare(collections: [CollectionSpec]) async throws {}

    func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?] {
        rows.withLock { rows in keys.map { rows[DocumentKey($0["id"]!)] } }
    }

    func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult] {
        patches.map { patch in
            let key = DocumentKey(patch.key["id"]!)
            return rows.withLock { rows -> PatchResult in
                if let expected = patch.expected {
                    guards.withLock { $0.append(expected) }
                    for (name, value) in expected where (rows[key]?[name] ?? .null) != (value ?? .null) { return .guardFailed }
                }
                switch patch.action {
                case let .replace(document):
                    actions.withLock { $0.append("replace") }
                    rows[key] = document.merging(patch.key) { _, k in k }
                case let .upsert(set, unset):
                    actions.withLock { $0.append("upsert") }
                    var row = rows[key] ?? patch.key
                    for (k, v) in set { row[k] = v }
                    for k in unset { row[k] = nil }
                    rows[key] = row
                case .delete:
                    actions.withLock { $0.append("delete") }
                    rows[key] = nil
                }
                return .applied
            }
        }
    }
}
