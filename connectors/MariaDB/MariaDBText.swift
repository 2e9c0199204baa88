/// Text conversions of the server's formats: strings in a column's character set, and the text
/// forms of UUID, INET6 and INET4 values (as `SELECT` prints them).
///
/// Invariant: decoding never fails; bytes that are not valid in the character set become U+FFFD.
enum MariaDBText {
    /// The latin1 character sets (MariaDB's latin1 is Windows-1252).
    static let latin1Charsets: Set<UInt32> = [5, 8, 15, 31, 47, 48, 49, 94]
    /// cp1252 characters for 0x80…0x9F (0 where the code is unassigned and kept as is).
    static let cp1252High: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]

    static func decode(_ bytes: [UInt8], charset: UInt32) -> String {
        if latin1Charsets.contains(charset), bytes.contains(where: { $0 >= 0x80 }) {
            // (ASCII text reads the same in latin1 and UTF-8: the UTF-8 path below.)
            var s = String.UnicodeScalarView()
            for b in bytes {
                let code = b >= 0x80 && b < 0xA0 ? cp1252High[Int(b - 0x80)] : UInt32(b)
                s.append(Unicode.Scalar(code)!)
            }
            return String(s)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func uuid(_ b: [UInt8]) -> String {
        let h = hex(b)
        let parts = [h.prefix(8), h.dropFirst(8).prefix(4), h.dropFirst(12).prefix(4), h.dropFirst(16).prefix(4), h.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    static func inet4(_ b: [UInt8]) -> String {
        b.prefix(4).map(String.init).joined(separator: ".")
    }

    /// RFC 5952 text: lower-case hex, the longest run (≥ 2) of zero groups as `::`; IPv4-mapped
    /// (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses with a dotted tail.
    static func inet6(_ b: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:" + inet4(Array(b[12..<16]))
        }
        if groups[0..<6].allSatisfy({ $0 == 0 }) && (groups[6] != 0 || groups[7] > 1) {
            return "::" + inet4(Array(b[12..<16]))
        }
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func text(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return text(0..<8) }
        return text(0..<bestStart) + "::" + text((bestStart + bestLength)..<8)
    }
}
