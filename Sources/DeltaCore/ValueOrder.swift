/// The total order over ``Value`` used by the tie-break of reconciliation rule 2.
///
/// Values sort first by type rank (null < bool < int < double < decimal < string < bytes <
/// timestamp < array < object), then within a type: false < true; integers, decimals and
/// timestamps numerically; doubles numerically with NaN greatest and -0 equal to 0; strings and
/// bytes by their bytes (UTF-8 for strings); arrays element by element, shorter prefix first;
/// objects as their entries sorted by key, compared as (key, value) pairs. The order agrees with `==`.
extension Value: Comparable {
    public static func < (lhs: Value, rhs: Value) -> Bool { compare(lhs, rhs) < 0 }

    /// Three-way comparison: negative, zero or positive.
    public static func compare(_ lhs: Value, _ rhs: Value) -> Int {
        let (ra, rb) = (lhs.typeRank, rhs.typeRank)
        if ra != rb { return ra < rb ? -1 : 1 }
        switch (lhs, rhs) {
        case (.null, .null): return 0
        case let (.bool(a), .bool(b)): return a == b ? 0 : (a ? 1 : -1)
        case let (.int(a), .int(b)): return a == b ? 0 : (a < b ? -1 : 1)
        case let (.timestamp(a), .timestamp(b)): return a == b ? 0 : (a < b ? -1 : 1)
        case let (.double(a), .double(b)): return compareDoubles(a, b)
        case let (.decimal(a), .decimal(b)): return ExactDecimal.compare(a, b)
        case let (.string(a), .string(b)): return compareBytes(a.utf8, b.utf8)
        case let (.bytes(a), .bytes(b)): return compareBytes(a, b)
        case let (.array(a), .array(b)):
            for (x, y) in zip(a, b) {
                let c = compare(x, y)
                if c != 0 { return c }
            }
            return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
        case let (.object(a), .object(b)):
            let ka = a.keys.sorted(by: utf8Less)
            let kb = b.keys.sorted(by: utf8Less)
            for (x, y) in zip(ka, kb) {
                let c = compareBytes(x.utf8, y.utf8)
                if c != 0 { return c }
                let v = compare(a[x]!, b[y]!)
                if v != 0 { return v }
            }
            return ka.count == kb.count ? 0 : (ka.count < kb.count ? -1 : 1)
        default:
            return 0
        }
    }

    static func compareDoubles(_ a: Double, _ b: Double) -> Int {
        switch (a.isNaN, b.isNaN) {
        case (true, true): return 0
        case (true, false): return 1
        case (false, true): return -1
        case (false, false): return a == b ? 0 : (a < b ? -1 : 1)
        }
    }

    static func compareBytes<A: Sequence<UInt8>, B: Sequence<UInt8>>(_ a: A, _ b: B) -> Int {
        var ia = a.makeIterator()
        var ib = b.makeIterator()
        while true {
            switch (ia.next(), ib.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case let (x?, y?): if x != y { return x < y ? -1 : 1 }
            }
        }
    }
}
