import DeltaCore
import DeltaConnector

/// The state of one ``PostgresSource/changes(of:after:follow:)`` sequence: drives its
/// ``PostgresReplicationSession`` on the worker in short steps (so that cancellation is noticed
/// within half a second), reconnects after a lost connection from the last position it handed out,
/// and keeps the walsender informed between the consumer's calls.
///
/// Invariant: only the sequence's single consumer calls ``next()``, one call at a time. A call
/// says nothing about durability (the engine reads ahead): the session reports to the server as
/// flushed only what the engine acknowledged (``PostgresSource/acknowledge(_:)``).
actor PostgresChangeStream {
    private let worker: BlockingWorker
    private let session: PostgresReplicationSession
    private let config: PostgresStoreConfig
    private var keeper: Task<Void, Never>?
    private var done = false
    private var failures = 0

    /// Reconnection attempts in a row before the error goes to the engine (which retries too).
    static let maxReconnects = 5
    /// How long one step may wait for data (ms).
    static let stepMilliseconds: Int64 = 500

    init(worker: BlockingWorker, session: PostgresReplicationSession) {
        self.worker = worker
        self.session = session
        self.config = session.config
    }

    deinit {
        keeper?.cancel()
        let (session, worker) = (self.session, self.worker)
        Task { _ = try? await worker.run { session.close() } }
    }

    func next() async throws -> SourceBatch? {
        if done { return nil }
        let session = self.session
        if keeper == nil { keeper = Self.keepAlive(session, worker) }
        var delay: UInt64 = 200_000_000
        while !Task.isCancelled {
            let step: PostgresReplicationSession.Step
            do {
                step = try await worker.run { try session.step(maxWait: Self.stepMilliseconds) }
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

    /// Ends the sequence: a last status update (everything yielded is confirmed by now), then the
    /// connections close.
    private func finish() async {
        done = true
        keeper?.cancel()
        keeper = nil
        let session = self.session
        _ = try? await worker.run { session.close() }
    }

    /// Sends status updates every few seconds while the consumer is busy between calls, so that
    /// the walsender does not time the connection out.
    private static func keepAlive(_ session: PostgresReplicationSession, _ worker: BlockingWorker) -> Task<Void, Never> {
        let box = WeakSession(session)
        return Task.detached {
            while !Task.isCancelled {
                do { try await Task.sleep(nanoseconds: 3_000_000_000) } catch { return }
                guard let s = box.value else { return }
                let open = (try? await worker.run { s.sendStatusIfDue() }) ?? false
                if !open { return }
            }
        }
    }

    /// A weak reference that can cross into a task.
    private final class WeakSession: @unchecked Sendable {
        weak var value: PostgresReplicationSession?
        init(_ value: PostgresReplicationSession) { self.value = value }
    }
}
