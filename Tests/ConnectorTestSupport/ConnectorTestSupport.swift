import DeltaConnector
import DeltaCore
import Foundation

/// A test guard ran out of time: the operation it wrapped hung.
public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "timed out waiting for \(what)" }

    public init(what: String) { self.what = what }
}

/// Runs `body`, failing after `seconds` — a guard against hangs, never a wait.
public func withTimeout<T: Sendable>(_ seconds: Double = 60, what: String = "the operation",
                                     _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Reads a whole snapshot of `spec` in chunks of `limit`.
public func readSnapshot(_ reader: any SnapshotReader, _ spec: CollectionSpec, limit: Int) async throws -> [RowChange] {
    var rows: [RowChange] = []
    var cursor: String?
    repeat {
        let chunk = try await reader.read(spec, after: cursor, limit: limit)
        rows += chunk.rows
        cursor = chunk.cursor
    } while cursor != nil
    return rows
}

/// Runs a blocking call (starting or stopping a server process and polling for it) on a thread of
/// its own. Swift's cooperative pool has one thread per core: a test blocking one there stalls the
/// tasks of every other test running beside it, engine batches and streams included.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
