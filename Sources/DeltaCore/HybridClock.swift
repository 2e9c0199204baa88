/// Issues the stamps for changes captured from one store: a hybrid logical clock per origin.
///
/// Invariants: stamps issued by one clock strictly increase, even when source commit times go
/// backwards or repeat (rule 3); a stamp is never more than ``maxClockSkew`` ahead of the bridge's
/// own clock (rule 5, counted in ``clampedCount``); and after ``observe(_:)`` every later stamp
/// exceeds the observed one (rule 4: a change seen after the bridge's own write is causally later).
public struct HybridClock: Sendable, Equatable {
    public let origin: StoreID
    /// Microseconds a source time may run ahead of the bridge clock before it is clamped.
    public var maxClockSkew: Int64
    public private(set) var lastTime: Int64
    public private(set) var lastCounter: UInt32
    /// How many source times were clamped by rule 5 since this clock was created.
    public private(set) var clampedCount: Int = 0

    public static let defaultMaxClockSkew: Int64 = 5_000_000

    public init(origin: StoreID, maxClockSkew: Int64 = HybridClock.defaultMaxClockSkew,
                lastTime: Int64 = .min, lastCounter: UInt32 = 0) {
        self.origin = origin
        self.maxClockSkew = maxClockSkew
        self.lastTime = lastTime
        self.lastCounter = lastCounter
    }

    /// What one call to ``stamp(sourceTime:now:)`` produced.
    public struct Issued: Sendable, Equatable {
        public let stamp: Stamp
        /// True when the source time was more than `maxClockSkew` ahead of `now` and was clamped.
        public let clamped: Bool
    }

    /// The stamp for the next change from this store.
    /// - Parameters:
    ///   - sourceTime: the source's commit time (or application column) in µs; nil uses `now`.
    ///   - now: the bridge's wall clock in µs.
    public mutating func stamp(sourceTime: Int64?, now: Int64) -> Issued {
        var t = sourceTime ?? now
        var clamped = false
        if t > now &+ maxClockSkew {
            t = now
            clamped = true
            clampedCount += 1
        }
        if t > lastTime {
            lastTime = t
            lastCounter = 0
        } else if lastCounter == .max {
            lastTime &+= 1
            lastCounter = 0
        } else {
            lastCounter += 1
        }
        return Issued(stamp: Stamp(time: lastTime, counter: lastCounter, origin: origin), clamped: clamped)
    }

    /// Raises the clock so that every later stamp is greater than `stamp` (whatever its origin).
    public mutating func observe(_ stamp: Stamp) {
        if stamp.time > lastTime {
            lastTime = stamp.time
            lastCounter = stamp.counter
        } else if stamp.time == lastTime, stamp.counter > lastCounter {
            lastCounter = stamp.counter
        }
    }
}
