import DeltaConnector

/// Reads a source's change stream one batch ahead of the engine, on a task of its own, so that
/// the source's reading overlaps the processing of the batch before.
///
/// Invariants: at most one batch waits that the engine has not taken (memory stays bounded); the
/// stream's batches, its end and its error reach the consumer in order; when the consumer stops,
/// the reading task is cancelled and never left waiting.
enum ReadAhead {
    /// Runs `body` with a `next` function that returns the stream's batches (nil at its end) and
    /// an `interrupt` function that makes the current or next `next` call throw the given error.
    static func run<T>(_ stream: AsyncThrowingStream<SourceBatch, any Error>,
                       _ body: (_ next: @Sendable () async throws -> SourceBatch?,
                                _ interrupt: @escaping @Sendable (any Error) -> Void) async throws -> T) async throws -> T {
        let handoff = Handoff()
        let producer = Task {
            do {
                for try await batch in stream {
                    await handoff.put(.success(batch))
                    if Task.isCancelled { return }
                }
                await handoff.put(.success(nil))
            } catch {
                await handoff.put(.failure(error))
            }
        }
        let next: @Sendable () async throws -> SourceBatch? = {
            try await withTaskCancellationHandler {
                try await handoff.take()
            } onCancel: {
                Task { await handoff.close() }
            }
        }
        let interrupt: @Sendable (any Error) -> Void = { error in Task { await handoff.fail(error) } }
        do {
            let result = try await body(next, interrupt)
            producer.cancel()
            await handoff.close()
            return result
        } catch {
            producer.cancel()
            await handoff.close()
            throw error
        }
    }

    /// A one-slot rendezvous between the reading task and the engine.
    private actor Handoff {
        private var slot: Result<SourceBatch?, any Error>?
        private var consumer: CheckedContinuation<SourceBatch?, any Error>?
        private var producer: CheckedContinuation<Void, Never>?
        private var closed = false
        private var failure: (any Error)?

        /// Hands over one result; returns once the engine has it or waits for it (then the
        /// reader goes on reading), or when the handoff closed.
        func put(_ result: Result<SourceBatch?, any Error>) async {
            guard !closed else { return }
            if let consumer {
                self.consumer = nil
                consumer.resume(with: result)
                return
            }
            slot = result
            await withCheckedContinuation { producer = $0 }
        }

        func take() async throws -> SourceBatch? {
            if let failure { throw failure }
            if let result = slot {
                slot = nil
                producer?.resume()
                producer = nil
                return try result.get()
            }
            if closed { throw CancellationError() }
            return try await withCheckedThrowingContinuation { consumer = $0 }
        }

        /// Makes the waiting (or next) `take` throw `error`.
        func fail(_ error: any Error) {
            guard failure == nil else { return }
            failure = error
            consumer?.resume(throwing: error)
            consumer = nil
        }

        func close() {
            closed = true
            producer?.resume()
            producer = nil
            consumer?.resume(throwing: CancellationError())
            consumer = nil
        }
    }
}
