import DeltaCore
import DeltaLedger
import Synchronization

/// The batches of a pipeline that are planned but not yet durable: each is applied to its targets
/// and then committed to the ledger while the engine plans the next ones, and each leaves an
/// ``Overlay`` of what its commit will store, which later batches read on top of the ledger.
///
/// Invariants: batches are applied in the order they were started, each after the previous one
/// was applied, and committed in that order, each after its own apply and the previous commit;
/// so a checkpoint is durable only after its batch's targets answered and every earlier
/// checkpoint is durable. A batch that fails (or follows one that failed) is never committed and
/// its overlay is no longer read; entries leave the queue only when their work has ended, so a
/// restart after a failure is ordered after everything the failed run still had in flight. At
/// most ``maxPending`` batches are in flight. Used only by the holder of the engine's gate.
final class CommitQueue: Sendable {
    /// Batches in flight at most (planning waits for the oldest beyond it): memory stays bounded.
    static let maxPending = 2

    /// The ledger rows a commit writes for the documents it touches: merged states, store
    /// images (nil: the store deleted the document) and write records by attribute.
    struct Overlay: Sendable {
        var states: MergedStates
        var images: [StoreID: [DocumentRef: [AttributeName: Value]?]] = [:]
        var writes: [StoreID: [DocumentRef: [AttributeName: AttributeState]]] = [:]

        init(batch: LedgerBatch) {
            states = MergedStates(batch.mergedDocuments ?? [])
            for image in batch.images { images[image.store, default: [:]][DocumentRef(image.namespace, image.key)] = .some(image.image) }
            add(writes: batch.writes)
        }

        mutating func add(writes records: [WriteRecord]) {
            for w in records {
                writes[w.store, default: [:]][DocumentRef(w.namespace, w.key), default: [:]][w.attribute] = AttributeState(value: w.value, stamp: w.stamp)
            }
        }
    }

    /// A batch's merged states, indexed by document only when a later batch first reads them:
    /// the batches of a first snapshot, which read nothing, never pay for the index.
    final class MergedStates: Sendable {
        private let documents: [MergedDocument]
        private let index = Mutex<[DocumentRef: Int]?>(nil)

        init(_ documents: [MergedDocument]) { self.documents = documents }

        /// The states by document (indexed on the first call).
        var byDocument: Lookup {
            let index = self.index.withLock { index in
                if let index { return index }
                var built = [DocumentRef: Int](minimumCapacity: documents.count)
                for (i, document) in documents.enumerated() { built[document.ref] = i }
                index = built
                return built
            }
            return Lookup(documents: documents, index: index)
        }

        /// A document's merged state in the batch, if the batch has one.
        struct Lookup {
            fileprivate let documents: [MergedDocument]
            fileprivate let index: [DocumentRef: Int]

            subscript(ref: DocumentRef) -> DocumentState? { index[ref].map { documents[$0].state } }
        }
    }

    private struct Pending {
        let id: Int
        var overlay: Overlay
        var failed = false
        let applied: Task<BatchProcessor.Processed, any Error>
        let committed: Task<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var nextID = 0
        /// Why recent batches failed, by number: a batch planned on top of one of them must not
        /// be started (what it built on never became durable). Only the last few are kept.
        var failures: [Int: any Error] = [:]
    }

    private let state = Mutex(State())

    /// What the batches in flight will have committed, oldest first (apply them in this order),
    /// and their numbers, to hand back to ``start(_:plannedOn:apply:commit:failed:)``.
    var overlays: (ids: [Int], overlays: [Overlay]) {
        state.withLock { s in
            let live = s.pending.filter { !$0.failed }
            return (live.map(\.id), live.map(\.overlay))
        }
    }

    /// Starts making a planned batch durable: `apply` runs once the previous batch is applied,
    /// then `commit` (given the applied batch) once the previous batch is committed; `failed`
    /// hears why if either fails, or if a batch before it fails. Returns the batch's number, or
    /// throws without starting it when a batch it was planned on (`plannedOn`) has failed.
    func start(_ overlay: Overlay, plannedOn: [Int], apply: @escaping @Sendable () async throws -> BatchProcessor.Processed,
               commit: @escaping @Sendable (BatchProcessor.Processed) async throws -> Void,
               failed: @escaping @Sendable (any Error) -> Void) throws -> Int {
        try state.withLock { s in
            for id in plannedOn {
                if let error = s.failures[id] { throw error }
            }
            let id = s.nextID
            s.nextID += 1
            let previous = s.pending.last
            let applied = Task {
                if let previous { try await Self.after(previous.applied) }
                return try await apply()
            }
            let committed = Task {
                do {
                    let processed = try await applied.value
                    if let previous { try await Self.after(previous.committed) }
                    try await commit(processed)
                    self.finish(id, error: nil)
                } catch {
                    self.finish(id, error: error)
                    failed(error)
                    throw error
                }
            }
            s.pending.append(Pending(id: id, overlay: overlay, applied: applied, committed: committed))
            return id
        }
    }

    /// Waits for a previous batch's step; its failure becomes a transient error of this batch
    /// (which was planned on it), saying so.
    private static func after<T>(_ task: Task<T, any Error>) async throws {
        do {
            _ = try await task.value
        } catch let error as EarlierBatchFailed {
            throw error
        } catch {
            throw EarlierBatchFailed(cause: error)
        }
    }

    /// A batch could not be applied or committed because one before it failed.
    struct EarlierBatchFailed: Error, CustomStringConvertible {
        let cause: any Error
        var description: String { "an earlier batch failed (\(cause)); resuming from the last checkpoint" }
    }

    /// Waits until batch `id` is applied and adds its write records to its overlay (for a batch
    /// whose write records the next batch needs); throws the apply's error. A batch that has
    /// already left the queue is committed (its records are in the ledger) or has failed (and
    /// told its source).
    func awaitApplied(_ id: Int) async throws {
        guard let task = state.withLock({ s in s.pending.first { $0.id == id }?.applied }) else { return }
        let processed = try await task.value
        state.withLock { s in
            if let i = s.pending.firstIndex(where: { $0.id == id }) { s.pending[i].overlay.add(writes: processed.batch.writes) }
        }
    }

    /// Waits while more than ``maxPending`` batches are in flight.
    func bound() async {
        while let oldest = state.withLock({ s in s.pending.count > Self.maxPending ? s.pending.first?.committed : nil }) {
            _ = try? await oldest.value
        }
    }

    /// Waits until every batch in flight has ended (failures reach their sources through
    /// `failed`).
    func settle() async {
        while let oldest = state.withLock({ $0.pending.first?.committed }) {
            _ = try? await oldest.value
        }
    }

    private func finish(_ id: Int, error: (any Error)?) {
        state.withLock { s in
            if let error {
                s.failures[id] = error
                if s.failures.count > 64, let oldest = s.failures.keys.min() { s.failures[oldest] = nil }
                // Later batches were planned on top of this one: their overlays are no longer true.
                for i in s.pending.indices where s.pending[i].id >= id { s.pending[i].failed = true }
            }
            s.pending.removeAll { $0.id == id }
        }
    }
}
