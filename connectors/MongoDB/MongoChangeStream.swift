import DeltaCore
import DeltaConnector

/// The state of one ``MongoSource/changes(of:after:follow:)`` sequence: drives its
/// ``MongoStreamSession`` on the worker one step (at most one awaited getMore) at a time, so that
/// cancellation is noticed within a second, and reconnects after a lost connection (a server
/// restart) from the last position it handed out.
///
/// Invariant: only the sequence's single consumer calls ``next()``, one call at a time.
actor MongoChangeStream {
    private let worker: BlockingWorker
    private let session: MongoStreamSession
    private let config: MongoStoreConfig
    private var done = false
    private var failures = 0

    /// Reconnection attempts in a row before the error goes to the engine (which retries too).
    static let maxReconnects = 8

    init(worker: BlockingWorker, session: MongoStreamSession) {
        self.worker = worker
        self.session = session
        self.config = session.config
    }

    deinit {
        let (session, worker) = (self.session, self.worker)
        Task { _ = try? await worker.run { session.close() } }
    }

    func next() async throws -> SourceBatch? {
        if done { return nil }
        let session = self.session
        var delay: UInt64 = 200_000_000
        while !Task.isCancelled {
            let step: MongoStreamSession.Step
            do {
                step = try await worker.run { try session.step() }
            } catch let error as ConnectorError where error.kind == .transient {
                failures += 1
                _ = try? await worker.run { session.resetForReconnect() }
                if failures > Self.maxReconnects {
                    await finish()
                    throw error
                }
                config.warn("\(error.message) — reconnecting in \(Double(delay) / 1e9) s (attempt \(failures) of \(Self.maxReconnects))")
                do { try await Task.sleep(nanoseconds: delay) } catch { break }
                delay = min(delay * 2, 5_000_000_000)
                continue
            } catch {
                await finish()
                throw error
            }
            switch step {
            case let .batch(batch):
                failures = 0
                return batch
            case .nothing:
                continue
            case .finished:
                await finish()
                return nil
            }
        }
        await finish()
        return nil
    }

    private func finish() async {
        done = true
        let session = self.session
        _ = try? await worker.run { session.close() }
    }
}
