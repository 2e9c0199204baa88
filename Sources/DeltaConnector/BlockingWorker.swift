import Dispatch

/// Runs blocking client-library calls (SQLite, libpq, libmariadb, libmongoc) on a serial queue of
/// its own, so they never block Swift's cooperative thread pool.
///
/// Invariant: jobs run one at a time in submission order, so a non-thread-safe connection used
/// only from one worker is safe.
public final class BlockingWorker: Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: "deltabridge.\(label)", qos: .userInitiated)
    }

    /// Runs `body` on the worker and returns its result.
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
