import DeltaCore
import DeltaLedger
import Synchronization

/// The ledger commit of a pipeline's last processed batch, written while the next batch is read,
/// normalised and applied, plus what that commit will have stored (the ``Overlay``), which the
/// next batch reads on top of the ledger.
///
/// Invariants: used only by the holder of the engine's gate; at most one commit is in flight and
/// every earlier one succeeded; a batch starts its own commit only after the previous one is
/// durable (``settle()``), so checkpoints are committed in order, each after its batch's sinks;
/// a failed commit leaves no overlay behind.
final class CommitQueue: Sendable {
    /// The ledger rows a commit writes for the documents it touches: merged states, store
    /// images (nil: the store deleted the document) and write records by attribute.
    struct Overlay: Sendable {
        var states: [DocumentRef: DocumentState] = [:]
        var images: [StoreID: [DocumentRef: [AttributeName: Value]?]] = [:]
        var writes: [StoreID: [DocumentRef: [AttributeName: AttributeState]]] = [:]

        init(batch: LedgerBatch) {
            for document in batch.mergedDocuments ?? [] { states[document.ref] = document.state }
            for image in batch.images { images[image.store, default: [:]][DocumentRef(image.namespace, image.key)] = .some(image.image) }
            for w in batch.writes {
                writes[w.store, default: [:]][DocumentRef(w.namespace, w.key), default: [:]][w.attribute] = AttributeState(value: w.value, stamp: w.stamp)
            }
        }
    }

    private struct State {
        var inFlight: Task<Void, any Error>?
        var overlay: Overlay?
        /// Commits that failed so far: a source that read past one must start again from its
        /// checkpoint, since what it built on never became durable.
        var failures = 0
    }

    private let state = Mutex(State())

    /// What the commit in flight will have written, if a commit is in flight.
    var overlay: Overlay? { state.withLock { $0.overlay } }

    /// How many commits have failed since the engine started.
    var failures: Int { state.withLock { $0.failures } }

    /// Waits until the commit in flight (if any) is durable; when it failed, forgets its overlay
    /// and throws its error.
    func settle() async throws {
        guard let task = state.withLock({ $0.inFlight }) else { return }
        do {
            try await task.value
            state.withLock { $0.inFlight = nil; $0.overlay = nil }
        } catch {
            state.withLock { $0.inFlight = nil; $0.overlay = nil; $0.failures += 1 }
            throw error
        }
    }

    /// Starts `commit` (the caller settled the previous one) with `overlay` describing its writes.
    func start(_ overlay: Overlay, _ commit: @escaping @Sendable () async throws -> Void) {
        state.withLock {
            $0.inFlight = Task { try await commit() }
            $0.overlay = overlay
        }
    }
}
