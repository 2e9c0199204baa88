/// A PostgreSQL write-ahead log position (`XLogRecPtr`), written as two hexadecimal halves, `0/16B3748`.
///
/// Invariant: ``description`` and ``init(_:)`` round-trip every `UInt64`; LSNs order as unsigned integers.
public struct LSN: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The position as one 64-bit number (high half `<< 32` plus low half).
    public var value: UInt64

    /// The invalid position `0/0` (`InvalidXLogRecPtr`).
    public static let invalid = LSN(0)

    public init(_ value: UInt64) {
        self.value = value
    }

    /// Parses `HIGH/LOW` where each half is 1 to 8 hexadecimal digits (either case), as PostgreSQL prints
    /// `pg_lsn`. Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = String(text).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 2,
              let high = LSN.hexHalf(parts[0]),
              let low = LSN.hexHalf(parts[1]) else { return nil }
        value = UInt64(high) << 32 | UInt64(low)
    }

    private static func hexHalf(_ text: Substring) -> UInt32? {
        guard (1...8).contains(text.utf8.count), text.utf8.allSatisfy({ $0.isHexDigit }) else { return nil }
        return UInt32(text, radix: 16)
    }

    /// Upper-case hexadecimal halves without leading zeros, like PostgreSQL: `0/16B3748`.
    public var description: String {
        String(UInt32(truncatingIfNeeded: value >> 32), radix: 16, uppercase: true) + "/"
            + String(UInt32(truncatingIfNeeded: value), radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool {
        lhs.value < rhs.value
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self)
    }
}
