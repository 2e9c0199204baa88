/// A MongoDB cluster time (a BSON Timestamp: seconds and an increment that orders operations
/// within the second), and the microsecond stamp time the connector derives from it.
///
/// Invariant: `micros` preserves the order of cluster times with increments below one million.
public struct MongoClusterTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: UInt32
    public var increment: UInt32

    public init(seconds: UInt32, increment: UInt32) {
        self.seconds = seconds
        self.increment = increment
    }

    /// Parses `seconds.increment`.
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let s = UInt32(parts[0]), let i = UInt32(parts[1]) else { return nil }
        self.init(seconds: s, increment: i)
    }

    /// µs since the Unix epoch: the seconds, with the increment as the µs within the second.
    public var micros: Int64 { Int64(seconds) * 1_000_000 + Int64(min(increment, 999_999)) }

    public var description: String { "\(seconds).\(increment)" }

    public static func < (a: MongoClusterTime, b: MongoClusterTime) -> Bool {
        (a.seconds, a.increment) < (b.seconds, b.increment)
    }
}
