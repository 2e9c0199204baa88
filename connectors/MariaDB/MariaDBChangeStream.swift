import DeltaCore
import DeltaConnector

/// The state of one ``MariaDBSource/changes(of:after:follow:)`` sequence: drives its
/// ``MariaDBBinlogSession`` on the worker one step at a time (a step returns at least every
/// heartbeat, so cancellation is noticed within a second) and reconnects after a lost connection
/// from the last position it handed out, with backoff.
///
/// Invariant: only the sequence's single consumer calls ``next()``, one call at a time.
actor MariaDBChangeStream {
    private let worker: BlockingWorker
    private let session: MariaDBBinlogSession
    private let config: MariaDBStoreConfig
    private var done = false
    private var failures = 0

    /// Reconnection attempts in a row before the error goes to the engine (which retries too).
    static let maxReconnects = 8

    init(worker: BlockingWorker, session: MariaDBBinlogSession) {
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
            let step: MariaDBBinlogSession.Step
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
                delay = min(delay * 2, 3_000_000_000)
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
                failures = 0
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
