/// A PostgreSQL source position as checkpoints store it: the commit LSN to stream after and, when
/// the consumer stopped inside a transaction that went out in parts, that transaction (by its
/// commit LSN) and how many of its changes were already handed out. Text: `0/16B3748`, or
/// `0/16B3748+0/16C2F10:4000` inside a transaction.
///
/// Invariant: ``description`` and ``init(_:)`` round-trip; `delivered` is positive.
public struct PostgresPosition: Sendable, Hashable, CustomStringConvertible {
    /// The commit (end) LSN of the last transaction delivered whole.
    public var lsn: LSN
    /// The transaction in progress, when the position lies inside one.
    public var partial: Partial?

    /// A transaction delivered in part: its commit LSN (`BEGIN`'s final LSN) and the number of its
    /// row changes already handed out, which a resumed stream skips.
    public struct Partial: Sendable, Hashable {
        public var transaction: LSN
        public var delivered: Int
    }

    public init(lsn: LSN, partial: Partial? = nil) {
        self.lsn = lsn
        self.partial = partial
    }

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
        guard let lsn = LSN(parts[0]) else { return nil }
        self.lsn = lsn
        guard parts.count == 2 else { return }
        let inner = parts[1].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard inner.count == 2, let transaction = LSN(inner[0]), let delivered = Int(inner[1]), delivered > 0,
              inner[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        partial = Partial(transaction: transaction, delivered: delivered)
    }

    public var description: String {
        guard let partial else { return lsn.description }
        return "\(lsn)+\(partial.transaction):\(partial.delivered)"
    }
}
