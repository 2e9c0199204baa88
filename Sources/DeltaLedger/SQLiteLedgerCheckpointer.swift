import Dispatch
import SQLiteSupport
import Synchronization

/// Runs a ledger's WAL checkpoints on a queue and a connection of its own: a commit that fills
/// the WAL asks for a checkpoint and returns, so no commit waits for the checkpoint's copying
/// and syncing (which otherwise stalled the writer every second or so, for tens of milliseconds).
///
/// Invariant: at most one checkpoint runs or waits at a time; a request while one waits is the
/// same request. Checkpoints are `PASSIVE`, so they never block the writer or the readers.
final class SQLiteLedgerCheckpointer: Sendable {
    /// WAL frames after which a commit asks for a checkpoint (SQLite's own default).
    static let requestFrames: Int32 = 1_000
    /// WAL frames after which the committing thread waits for the queue's checkpoint and copies
    /// the rest itself (128 MiB of 16 KiB pages). The WAL starts over only once a checkpoint has
    /// copied all of it before the next commit, which one beside a busy writer seldom does; this
    /// bounds the WAL, at one wait per this many frames instead of one per ``requestFrames``.
    static let forceFrames: Int32 = 8_000

    private let database: SQLiteDatabase
    private let queue = DispatchQueue(label: "deltabridge.ledger.checkpoint")
    private let scheduled = Atomic<Bool>(false)
    private let done = Atomic<Int>(0)

    init(path: String) throws {
        database = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: 30_000)
        // Opens the file now: a connection that has read nothing does not know it is in WAL
        // mode, and its checkpoints would do nothing.
        guard try database.scalarText("PRAGMA journal_mode") == "wal" else {
            throw SQLiteError(code: 1, message: "\(path) is not in WAL mode")
        }
    }

    /// Asks for a checkpoint; returns at once.
    func request() {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            scheduled.store(false, ordering: .releasing)
            // A failure (the disk, a lock held too long) leaves the frames in the WAL, where
            // they are as safe as in the database; the next request tries again.
            _ = try? database.checkpointPassive()
            done.add(1, ordering: .relaxed)
        }
    }

    /// Checkpoints run so far.
    var completed: Int { done.load(ordering: .relaxed) }

    /// Waits until the checkpoint asked for last has run.
    func drain() { queue.sync {} }

    /// Makes `writer` (the ledger's writing connection) hand its checkpoints to this queue.
    func attach(to writer: SQLiteDatabase) {
        writer.onWALCommit { [unowned writer, self] frames in
            if frames >= Self.forceFrames {
                drain()
                _ = try? writer.checkpointPassive()
            } else if frames >= Self.requestFrames {
                request()
            }
        }
    }
}
