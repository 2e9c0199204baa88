/// The version of one attribute value or tombstone: `(time µs, counter, origin)`, totally ordered.
///
/// The greater stamp wins (reconciliation rule 2). `time` is microseconds since the Unix epoch,
/// `counter` orders events with equal time from one ``HybridClock``, `origin` breaks the last tie.
public struct Stamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var time: Int64
    public var counter: UInt32
    public var origin: StoreID

    public init(time: Int64, counter: UInt32 = 0, origin: StoreID) {
        self.time = time
        self.counter = counter
        self.origin = origin
    }

    @inlinable
    public static func < (a: Stamp, b: Stamp) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.counter != b.counter { return a.counter < b.counter }
        return a.origin < b.origin
    }

    /// `2024-03-01T12:00:00.123456Z#3@pg`
    public var description: String {
        Timestamps.iso8601(micros: time) + "#\(counter)@\(origin.name)"
    }
}
