import Synchronization

/// What a source's batches did once they were durable, the newest durable stream position
/// not yet handed to pruning, and the first failure of one of its batches; filled in by the
/// batches' applies and commits, which run while the source reads on.
final class SourceProgress: Sendable {
    private let state = Mutex<(run: PipelineEngine.SourceRun, durable: String?, failure: (any Error)?, interrupt: (@Sendable (any Error) -> Void)?)>(
        (PipelineEngine.SourceRun(), nil, nil, nil))

    /// Why a batch of this source failed (the run must stop and resume from its checkpoint).
    var failure: (any Error)? { state.withLock { $0.failure } }

    /// Records a failure and interrupts whatever the run waits for (its stream's next batch).
    func fail(_ error: any Error) {
        let interrupt = state.withLock { s -> (@Sendable (any Error) -> Void)? in
            if s.failure == nil { s.failure = error }
            return s.interrupt
        }
        interrupt?(error)
    }

    /// What to call when a batch fails while the run waits (nil: nothing to wake).
    func onFailure(_ interrupt: (@Sendable (any Error) -> Void)?) {
        let failure = state.withLock { s -> (any Error)? in
            s.interrupt = interrupt
            return s.failure
        }
        if let failure { interrupt?(failure) }
    }

    /// Throws the first failure of a batch of this source, if any.
    func check() throws {
        if let failure { throw failure }
    }

    func add(_ r: BatchProcessor.Result, events: Int, durable position: String?) {
        state.withLock { s in
            s.run.events += events
            s.run.deltas += r.deltas
            s.run.patchesApplied += r.patchesApplied
            s.run.guardsFailed += r.guardsFailed
            s.run.rejected += r.rejected
            if let position { s.durable = position }
        }
    }

    var run: PipelineEngine.SourceRun { state.withLock { $0.run } }

    /// The newest durable position since the last call, if any.
    func takeDurable() -> String? {
        state.withLock { s in
            defer { s.durable = nil }
            return s.durable
        }
    }
}
