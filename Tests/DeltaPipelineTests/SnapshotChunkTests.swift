import DeltaConnector
import DeltaCore
import DeltaLedger
@testable import DeltaPipeline
import Foundation
import Logging
import Synchronization
import Testing

/// A snapshot is read and applied in chunks of `snapshot_batch_size` rows (by default
/// `batch_size`), each one batch: what the source is asked for and what the target receives.
@Suite("Engine: snapshot chunks")
struct SnapshotChunkTests {
    @Test("snapshot_batch_size sets the rows per snapshot chunk; batch_size does when it is absent")
    func chunkSizes() async throws {
        let withOption = try await snapshot(rows: 25, options: "{ batch_size: 3, snapshot_batch_size: 10 }")
        #expect(withOption.limits == [10, 10, 10])
        #expect(withOption.applied == [10, 10, 5])
        #expect(withOption.keys == Set(1...25))

        let without = try await snapshot(rows: 7, options: "{ batch_size: 3 }")
        #expect(without.limits == [3, 3, 3])
        #expect(without.applied == [3, 3, 1])
        #expect(without.keys == Set(1...7))
    }

    struct Outcome {
        var limits: [Int]
        var applied: [Int]
        var keys: Set<Int64>
    }

    func snapshot(rows: Int, options: String) async throws -> Outcome {
        let folder = try EngineTestFolder()
        defer { folder.remove() }
        let factory = ChunkedFactory(rows: rows)
        let registry = ConnectorRegistry([factory])
        let config = try folder.pipeline("chunks", storeType: "chunked", flow: "from: src\n    to: dst", options: options, registry: registry)
        let engine = try PipelineEngine(config: config, registry: registry, logger: Logger(label: "test"),
                                        ledger: try SQLiteLedger(path: folder.path + "/ledger.sqlite"))
        let summary = try await engine.runOnce()
        #expect(summary.events == rows)
        return Outcome(limits: factory.limits.withLock { $0 }, applied: factory.applied.withLock { $0 },
                       keys: factory.keys.withLock { $0 })
    }
}

/// `type: chunked`: a source whose snapshot holds `rows` rows (ids 1…rows) and no stream, and a
/// sink that records how many patches each batch brought; both record what the engine asked.
final class ChunkedFactory: ConnectorFactory, @unchecked Sendable {
    let type = "chunked"
    let settingKeys: Set<String> = []
    let rows: Int
    let limits = Mutex<[Int]>([])
    let applied = Mutex<[Int]>([])
    let keys = Mutex<Set<Int64>>([])

    init(rows: Int) { self.rows = rows }

    func makeSource(_ settings: StoreSettings) throws -> any SourceConnector { ChunkedSource(store: settings.name, factory: self) }
    func makeSink(_ settings: StoreSettings) throws -> any SinkConnector { ChunkedSink(store: settings.name, factory: self) }
}

final class ChunkedSource: SourceConnector {
    let store: StoreID
    let factory: ChunkedFactory

    init(store: StoreID, factory: ChunkedFactory) {
        self.store = store
        self.factory = factory
    }

    func beginSnapshot(of collections: [CollectionSpec]) async throws -> any SnapshotReader { ChunkedSnapshot(factory: factory) }

    func changes(of collections: [CollectionSpec], after position: String, follow: Bool) -> AsyncThrowingStream<SourceBatch, any Error> {
        AsyncThrowingStream { $0.finish() }
    }
}

/// Pages through ids 1…rows: the cursor is the last id read, nil after the last row.
final class ChunkedSnapshot: SnapshotReader {
    let factory: ChunkedFactory
    let position = "0"
    init(factory: ChunkedFactory) { self.factory = factory }

    func read(_ collection: CollectionSpec, after cursor: String?, limit: Int) async throws -> SnapshotChunk {
        factory.limits.withLock { $0.append(limit) }
        let first = (cursor.flatMap { Int($0) } ?? 0) + 1
        let last = min(factory.rows, first + limit - 1)
        guard first <= last else { return SnapshotChunk(rows: [], cursor: nil) }
        let rows = (first...last).map {
            RowChange(collection: "items", operation: .upsert, attributes: ["id": .int(Int64($0)), "n": .int(Int64($0))], image: .full)
        }
        return SnapshotChunk(rows: rows, cursor: last < factory.rows ? String(last) : nil)
    }

    func estimatedCount(_ collection: CollectionSpec) async throws -> Int? { factory.rows }
    func close() async {}
}

final class ChunkedSink: SinkConnector {
    let store: StoreID
    let factory: ChunkedFactory

    init(store: StoreID, factory: ChunkedFactory) {
        self.store = store
        self.factory = factory
    }

    func prepare(collections: [CollectionSpec]) async throws {}

    func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?] {
        keys.map { _ in nil }
    }

    func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult] {
        factory.applied.withLock { $0.append(patches.count) }
        factory.keys.withLock { keys in
            for patch in patches { if case let .int(id) = patch.key["id"] { keys.insert(id) } }
        }
        return patches.map { _ in .applied }
    }
}
