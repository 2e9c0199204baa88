/// Quoting for the SQL the connector generates (sessions run with `NO_BACKSLASH_ESCAPES`, so a
/// quote is the only character a string literal escapes).
///
/// Invariant: `ident` and `string` produce tokens that cannot end early, whatever their input.
enum MariaDBSQL {
    static func ident(_ name: String) -> String {
        "`" + doubled(name, "`") + "`"
    }

    static func string(_ s: String) -> String {
        "'" + doubled(s, "'") + "'"
    }

    /// `s` with every `quote` written twice (by bytes: a quote followed by a combining mark is
    /// one Character but still two tokens to the server).
    private static func doubled(_ s: String, _ quote: Unicode.Scalar) -> String {
        let q = UInt8(quote.value)
        guard s.utf8.contains(q) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 8)
        for b in s.utf8 {
            out.append(b)
            if b == q { out.append(b) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        "X'" + MariaDBText.hex(bytes) + "'"
    }
}
