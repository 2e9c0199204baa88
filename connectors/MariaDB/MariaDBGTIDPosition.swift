/// A source position: the GTID state after the last delivered transaction, one `domain-server-seq`
/// per replication domain, written as `gtid:0-1-42,1-2-7` (`gtid:` alone for an empty binlog);
/// inside a transaction that went out in parts, also that transaction and how many of its changes
/// were delivered: `gtid:0-1-42+0-1-43:1000`.
///
/// Invariant: at most one GTID per domain; the text form lists domains in ascending order, so
/// equal states print equally.
public struct MariaDBGTIDPosition: Sendable, Equatable, CustomStringConvertible {
    /// One global transaction id: replication domain, originating server, sequence number.
    public struct GTID: Sendable, Equatable, CustomStringConvertible {
        public var domain: UInt32
        public var server: UInt32
        public var sequence: UInt64
        public var description: String { "\(domain)-\(server)-\(sequence)" }
    }

    /// A transaction handed out in parts: its GTID and the number of its changes delivered.
    public struct Partial: Sendable, Equatable {
        public var transaction: GTID
        public var delivered: Int
    }

    public private(set) var gtids: [UInt32: GTID] = [:]
    /// Set when the position is inside a transaction (resume skips its first `delivered` changes).
    public var partial: Partial?

    public init() {}

    /// Parses `gtid:…` (with an optional `+d-s-n:count`) or a bare GTID list (`0-1-42,1-2-7`, as
    /// `@@gtid_binlog_pos` prints).
    public init?(_ text: String) {
        var list = Substring(text)
        if list.hasPrefix("gtid:") { list = list.dropFirst(5) }
        if let plus = list.firstIndex(of: "+") {
            let tail = list[list.index(after: plus)...]
            list = list[..<plus]
            let parts = tail.split(separator: ":")
            let fields = parts.first?.split(separator: "-") ?? []
            guard parts.count == 2, fields.count == 3, let d = UInt32(fields[0]), let s = UInt32(fields[1]), let n = UInt64(fields[2]),
                  let count = Int(parts[1]), count >= 0 else { return nil }
            partial = Partial(transaction: GTID(domain: d, server: s, sequence: n), delivered: count)
        }
        for part in list.split(separator: ",") {
            let fields = part.filter { $0 != " " }.split(separator: "-")
            guard fields.count == 3, let d = UInt32(fields[0]), let s = UInt32(fields[1]), let n = UInt64(fields[2]) else { return nil }
            gtids[d] = GTID(domain: d, server: s, sequence: n)
        }
    }

    public mutating func record(_ gtid: GTID) { gtids[gtid.domain] = gtid }

    /// The state as `@slave_connect_state` takes it.
    public var gtidList: String { gtids.keys.sorted().map { gtids[$0]!.description }.joined(separator: ",") }

    public var description: String {
        "gtid:" + gtidList + (partial.map { "+\($0.transaction):\($0.delivered)" } ?? "")
    }

    /// Transactions between this state and `head`, summed over domains (0 when not behind).
    public func transactionsBehind(_ head: MariaDBGTIDPosition) -> Int64 {
        var total: Int64 = 0
        for (domain, h) in head.gtids {
            let mine = gtids[domain]?.sequence ?? 0
            if h.sequence > mine { total += Int64(clamping: h.sequence - mine) }
        }
        return total
    }
}

