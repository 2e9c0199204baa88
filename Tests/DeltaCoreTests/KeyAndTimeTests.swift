import Testing
@testable import DeltaCore

@Suite struct DocumentKeyTests {
    @Test func singleKeysHaveOneCanonicalText() {
        let fromInt = DocumentKey(.int(42)), fromString = DocumentKey(.string("42"))
        #expect(fromInt.canonical == "42")
        #expect(fromInt == fromString)
        #expect(fromInt.hashValue == fromString.hashValue)
        #expect(!(fromInt < fromString) && !(fromString < fromInt))
        #expect(DocumentKey(.double(42.0)) == fromInt)
        #expect(DocumentKey(.decimal(ExactDecimal("42.000")!)) == fromInt)
        #expect(DocumentKey(.int(-7)).canonical == "-7")
        #expect(DocumentKey(.int(42)) != DocumentKey(.int(43)))
        #expect(DocumentKey(.string("042")) != fromInt)
        // Typed components are kept for the sinks.
        #expect(fromInt.components == [.int(42)])
        #expect(fromString.components == [.string("42")])
        #expect(DocumentKey(.bool(true)).canonical == "true")
        #expect(DocumentKey(.timestamp(0)).canonical == "1970-01-01T00:00:00Z")
        #expect(DocumentKey(.bytes([0x66, 0x6F, 0x6F])).canonical == "Zm9v")
        #expect(DocumentKey(.double(1.5)).canonical == "1.5")
        #expect(DocumentKey(.decimal(ExactDecimal("1.50")!)).canonical == "1.5")
        // A single key is not escaped: usable as a CouchDB _id.
        #expect(DocumentKey(.string("a|b\\c")).canonical == "a|b\\c")
        #expect(DocumentKey(canonical: "a|b").components == [.string("a|b")])
        #expect(Set([DocumentKey(.int(1)), DocumentKey(.string("1")), DocumentKey(.double(1)), DocumentKey(.int(2))]).count == 2)
    }

    @Test func compositeKeysEscapeTheSeparatorAndBackslash() {
        let k = DocumentKey([.string("a|b"), .string("c\\"), .int(7)])
        #expect(k.canonical == "a\\|b|c\\\\|7")
        #expect(DocumentKey.split(k.canonical) == ["a|b", "c\\", "7"])
        #expect(DocumentKey([.int(1), .string("x")]) == DocumentKey([.string("1"), .string("x")]))
        #expect(DocumentKey([.string("a"), .string("b|c")]) != DocumentKey([.string("a|b"), .string("c")]))
        #expect(DocumentKey([.string(""), .string("")]).canonical == "|")
        #expect(DocumentKey.split("|") == ["", ""])
        let rebuilt = DocumentKey(canonical: k.canonical, arity: 3)
        #expect(rebuilt == k)
        #expect(rebuilt.components == [.string("a|b"), .string("c\\"), .string("7")])
    }

    @Test func componentsReadOneByOneMatchTheArray() {
        let keys = [DocumentKey(.int(42)), DocumentKey([.string("x")]), DocumentKey([.int(1), .string("a|b"), .null]),
                    DocumentKey(canonical: "p|q", arity: 2), DocumentKey(canonical: "7", components: [.int(7)]),
                    DocumentKey(canonical: "7|8", components: [.int(7), .int(8)])]
        for key in keys {
            #expect(key.componentCount == key.components.count)
            #expect((0 ..< key.componentCount).map(key.component) == key.components)
        }
        #expect(keys.map(\.componentCount) == [1, 1, 3, 2, 1, 2])
        #expect(keys[1].components == [.string("x")] && keys[1].canonical == "x")
        #expect(keys[4].component(0) == .int(7))
    }

    /// Components full of `|` and `\`; `combining` adds strings that start with a combining mark,
    /// which Swift glues onto a preceding `|` or `\` as one Character.
    static func component(_ r: inout SplitMix64, combining: Bool) -> String {
        let pieces = ["|", "\\", "a", "b", "\\|", "||", "\\\\", "é", "日", " ", ""] + (combining ? ["\u{301}", "\u{308}x", "\u{200D}"] : [])
        return (0..<r.int(0 ... 6)).map { _ in r.pick(pieces) }.joined()
    }

    @Test func compositeEscapingRoundTripsForSeparatorsAndBackslashes() throws {
        forEachRandomCase(3000) { c in
            let parts = (0..<c.rng.int(2 ... 5)).map { _ in Self.component(&c.rng, combining: false) }
            let key = DocumentKey(parts.map(Value.string))
            let split = DocumentKey.split(key.canonical)
            try #require(split.count == parts.count && zip(split, parts).allSatisfy { $0.utf8.elementsEqual($1.utf8) },
                         "\(c.replay): \(parts) → \(key.canonical.debugDescription) → \(split)")
            let rebuilt = DocumentKey(canonical: key.canonical, arity: parts.count)
            try #require(rebuilt == key, "\(c.replay)")
            // Injective: another random key with different parts has a different canonical text.
            let other = (0..<parts.count).map { _ in Self.component(&c.rng, combining: false) }
            if other != parts {
                try #require(DocumentKey(other.map(Value.string)) != key, "\(c.replay): \(parts) and \(other) collide as \(key.canonical.debugDescription)")
            }
        }
    }

    /// The same round trip with components that begin with a combining mark (U+0301, U+0308, ZWJ).
    /// `escape` and `split` walk Characters, so "|" + "\u{301}…" becomes the single Character "|́" and
    /// the separator disappears: ["a", "\u{301}"] has canonical "a|\u{301}" but splits into one part.
    @Test func compositeEscapingRoundTripsWithCombiningMarks() throws {
        let parts = ["a", "\u{301}"]
        let key = DocumentKey(parts.map(Value.string))
        #expect(DocumentKey.split(key.canonical) == parts, "canonical \(key.canonical.debugDescription)")
        forEachRandomCase(2000) { c in
            let parts = (0..<c.rng.int(2 ... 5)).map { _ in Self.component(&c.rng, combining: true) }
            let key = DocumentKey(parts.map(Value.string))
            let split = DocumentKey.split(key.canonical)
            try #require(split.count == parts.count && zip(split, parts).allSatisfy { $0.utf8.elementsEqual($1.utf8) },
                         "\(c.replay): \(parts.map(\.debugDescription)) → \(key.canonical.debugDescription) → \(split.map(\.debugDescription))")
        }
    }

    /// `Comparable` requires `==` and `<` to agree. `==` compares Swift strings (canonical equivalence:
    /// "é" == "e\u{301}"), `<` compares UTF-8 bytes; the stores (and `Value.string`) treat those two
    /// spellings as different keys, so they must not name the same document either.
    @Test func keyEqualityAgreesWithKeyOrder() {
        let nfc = DocumentKey(.string("\u{E9}")), nfd = DocumentKey(.string("e\u{301}"))
        #expect(Value.string("\u{E9}") != Value.string("e\u{301}"))
        let relations = [nfc < nfd, nfc == nfd, nfd < nfc].filter { $0 }.count
        #expect(relations == 1, "exactly one of <, ==, > must hold (nfc<nfd \(nfc < nfd), == \(nfc == nfd), nfd<nfc \(nfd < nfc))")
        #expect(nfc != nfd, "byte-different keys are different documents in every store")
    }

    @Test func keyOrderIsByCanonicalBytes() {
        #expect(DocumentKey(.string("Z")) < DocumentKey(.string("a")))
        #expect(DocumentKey(.int(10)) < DocumentKey(.int(9))) // text order, not numeric
        #expect(DocumentKey(.string("z")) < DocumentKey(.string("\u{E9}")))
        #expect(!(DocumentKey(.int(5)) < DocumentKey(.string("5"))))
    }
}

@Suite struct IdentifierOrderTests {
    /// Same contract for store ids, namespaces and stamps (whose last component is the origin).
    @Test func identifierEqualityAgreesWithOrder() {
        let (s1, s2) = (StoreID("caf\u{E9}"), StoreID("cafe\u{301}"))
        #expect([s1 < s2, s1 == s2, s2 < s1].filter { $0 }.count == 1, "StoreID")
        let (n1, n2) = (Namespace("caf\u{E9}"), Namespace("cafe\u{301}"))
        #expect([n1 < n2, n1 == n2, n2 < n1].filter { $0 }.count == 1, "Namespace")
        let (t1, t2) = (Stamp(time: 5, counter: 0, origin: s1), Stamp(time: 5, counter: 0, origin: s2))
        #expect([t1 < t2, t1 == t2, t2 < t1].filter { $0 }.count == 1, "Stamp")
    }

    @Test func stampOrderIsTimeThenCounterThenOriginBytes() throws {
        let ids: [StoreID] = ["", "a", "b", "ab", "pg", "Z", "\u{E9}", "\u{FFFF}", "𝄞"]
        forEachRandomCase(3000) { c in
            let a = Stamp(time: c.rng.int64(-2 ... 2), counter: UInt32(c.rng.pick([0, 1, 2, UInt32.max])), origin: c.rng.pick(ids))
            let b = Stamp(time: c.rng.int64(-2 ... 2), counter: UInt32(c.rng.pick([0, 1, 2, UInt32.max])), origin: c.rng.pick(ids))
            let expected: Bool = a.time != b.time ? a.time < b.time
                : a.counter != b.counter ? a.counter < b.counter
                : a.origin.name.utf8.lexicographicallyPrecedes(b.origin.name.utf8)
            try #require((a < b) == expected, "\(c.replay): \(a) < \(b)")
            try #require([a < b, a == b, b < a].filter { $0 }.count == 1, "\(c.replay): \(a) vs \(b)")
        }
        #expect(Stamp(time: 1, counter: 0, origin: "z") < Stamp(time: 2, counter: 0, origin: "a"))
        #expect(Stamp(time: 1, counter: 1, origin: "a") > Stamp(time: 1, counter: 0, origin: "z"))
        #expect(Stamp(time: 1, counter: 1, origin: "b") > Stamp(time: 1, counter: 1, origin: "a"))
        #expect(Stamp(time: 1_709_294_400_123_456, counter: 3, origin: "pg").description == "2024-03-01T12:00:00.123456Z#3@pg")
    }
}

@Suite struct TimestampTests {
    static let minMicros: Int64 = Timestamps.days(fromCivil: 1, 1, 1) * 86_400_000_000
    static let maxMicros: Int64 = (Timestamps.days(fromCivil: 9999, 12, 31) + 1) * 86_400_000_000 - 1

    @Test func civilDayArithmeticAnchors() {
        #expect(Timestamps.days(fromCivil: 1970, 1, 1) == 0)
        #expect(Timestamps.days(fromCivil: 1969, 12, 31) == -1)
        #expect(Timestamps.days(fromCivil: 2000, 3, 1) == 11_017)
        #expect(Timestamps.days(fromCivil: 1, 1, 1) == -719_162)
        #expect(Self.minMicros == -62_135_596_800_000_000)
        #expect(Self.maxMicros == 253_402_300_799_999_999)
        #expect(Timestamps.parseISO8601("2024-02-29") == 1_709_164_800_000_000)
        #expect(Timestamps.parseISO8601("2000-02-29T23:59:59.999999Z") == 951_868_799_999_999)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (1, "1970-01-01T00:00:00.000001Z"),
        (1_709_294_400_123_456, "2024-03-01T12:00:00.123456Z"),
        (951_782_400_000_000, "2000-02-29T00:00:00Z"),
        (-62_135_596_800_000_000, "0001-01-01T00:00:00Z"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
        (-86_400_000_000, "1969-12-31T00:00:00Z"),
        (-1_000_000, "1969-12-31T23:59:59Z"),
        (-500_000, "1969-12-31T23:59:59.500000Z"),
        (4_107_542_400_000_000, "2100-03-01T00:00:00Z"),
    ])
    func knownTimestamps(micros: Int64, text: String) {
        #expect(Timestamps.iso8601(micros: micros) == text)
        #expect(Timestamps.parseISO8601(text) == micros)
    }

    @Test func iso8601RoundTripsForYearsOneToNineThousand() throws {
        forEachRandomCase(5000) { c in
            let micros: Int64 = switch c.rng.int(0 ... 3) {
            case 0: c.rng.int64(Self.minMicros ... Self.maxMicros)
            case 1: c.rng.int64(-86_400_000_000 * 365 ... 0) // just before the epoch: negative micros
            case 2: c.rng.int64(Self.minMicros ... Self.maxMicros) / 1_000_000 * 1_000_000 // whole seconds
            default: c.rng.int64(Self.minMicros / 86_400_000_000 ... Self.maxMicros / 86_400_000_000) * 86_400_000_000 // midnights
            }
            let text = Timestamps.iso8601(micros: micros)
            let back = try #require(Timestamps.parseISO8601(text), "\(c.replay): \(micros) → \(text) does not parse")
            try #require(back == micros, "\(c.replay): \(micros) → \(text) → \(back)")
            // Shape: YYYY-MM-DDThh:mm:ss[.ffffff]Z, fraction only when non-zero.
            let hasFraction = micros % 1_000_000 != 0
            try #require(text.utf8.count == (hasFraction ? 27 : 20) && text.hasSuffix("Z"), "\(c.replay): \(text)")
            // Lexicographic order of the text is chronological within years 1…9999.
            let other = c.rng.int64(Self.minMicros ... Self.maxMicros)
            let otherText = Timestamps.iso8601(micros: other)
            func floorSeconds(_ x: Int64) -> Int64 { x >= 0 ? x / 1_000_000 : -((-x + 999_999) / 1_000_000) }
            if floorSeconds(other) != floorSeconds(micros) {
                try #require((otherText < text) == (other < micros), "\(c.replay): \(otherText) vs \(text)")
            }
            // Date-only text is midnight UTC of that day.
            let dateOnly = String(text.prefix(10))
            let midnight = try #require(Timestamps.parseISO8601(dateOnly), "\(c.replay): \(dateOnly)")
            try #require(midnight % 86_400_000_000 == 0 && midnight <= micros && micros - midnight < 86_400_000_000,
                         "\(c.replay): \(dateOnly) → \(midnight) for \(micros)")
        }
    }

    /// Years 0 and below (proleptic Gregorian, astronomical numbering: 0000 is 1 BC and a leap year).
    /// Outside the 1…9999 range sources use, but the calendar arithmetic must stay exact there too.
    @Test func iso8601RoundTripsBeforeYearOne() throws {
        #expect(Timestamps.days(fromCivil: 0, 1, 1) == -719_528)
        #expect(Timestamps.days(fromCivil: 0, 3, 1) == -719_468)
        #expect(Timestamps.days(fromCivil: -1, 3, 1) == -719_834)
        #expect(Timestamps.iso8601(micros: -62_135_596_800_000_001) == "0000-12-31T23:59:59.999999Z")
        #expect(Timestamps.parseISO8601("0000-02-29T00:00:00Z") == -719_469 * 86_400_000_000)
        #expect(Timestamps.iso8601(micros: -719_469 * 86_400_000_000) == "0000-02-29T00:00:00Z")
        #expect(Timestamps.iso8601(micros: -719_835 * 86_400_000_000) == "-0001-02-28T00:00:00Z")
        let lowest = Timestamps.days(fromCivil: -9999, 1, 1) * 86_400_000_000
        forEachRandomCase(1000) { c in
            let micros = c.rng.int64(lowest ... Self.minMicros)
            let text = Timestamps.iso8601(micros: micros)
            try #require(Timestamps.parseISO8601(text) == micros, "\(c.replay): \(micros) → \(text)")
        }
    }

    /// `text` with its trailing Z replaced by an offset; the local time is shifted to match.
    static func withOffset(_ micros: Int64, minutes: Int64, colon: Bool) -> String {
        let local = Timestamps.iso8601(micros: micros + minutes * 60_000_000)
        let sign = minutes < 0 ? "-" : "+"
        let (h, m) = (abs(minutes) / 60, abs(minutes) % 60)
        let hh = h < 10 ? "0\(h)" : "\(h)", mm = m < 10 ? "0\(m)" : "\(m)"
        return String(local.dropLast()) + sign + hh + (colon ? ":" : "") + mm
    }

    @Test func offsetsAreConvertedToUTC() throws {
        let noon = Timestamps.parseISO8601("2024-03-01T12:00:00Z")
        #expect(noon == 1_709_294_400_000_000)
        #expect(Timestamps.parseISO8601("2024-03-01T14:00:00+02:00") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01T14:00:00+0200") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01T14:00:00+02") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01T06:30:00-0530") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01T06:30:00-05:30") == noon)
        #expect(Timestamps.parseISO8601("2024-03-02T01:45:00+13:45") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01 12:00:00") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01t12:00z") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01T12:00") == noon)
        #expect(Timestamps.parseISO8601("2024-03-01") == 1_709_251_200_000_000)
        #expect(Timestamps.parseISO8601("2024-03-01T12:00:00.5Z") == 1_709_294_400_500_000)
        #expect(Timestamps.parseISO8601("2024-03-01T12:00:00,25Z") == 1_709_294_400_250_000)
        #expect(Timestamps.parseISO8601("2024-03-01T12:00:00.1234567Z") == 1_709_294_400_123_456)
        #expect(Timestamps.parseISO8601("1970-01-01T00:00:00+01:00") == -3_600_000_000)
        forEachRandomCase(3000) { c in
            let micros = c.rng.int64(Self.minMicros + 86_400_000_000 ... Self.maxMicros - 86_400_000_000)
            let minutes = c.rng.chance(0.3) ? c.rng.pick([0, 60, -60, 120, -330, 330, 345, -570, 840, -720]) : c.rng.int64(-14 * 60 ... 14 * 60)
            let text = Self.withOffset(micros, minutes: minutes, colon: c.rng.bool())
            let back = try #require(Timestamps.parseISO8601(text), "\(c.replay): \(text) does not parse")
            try #require(back == micros, "\(c.replay): \(text) → \(back), expected \(micros)")
        }
    }

    @Test(arguments: [
        "", "2024", "2024-03", "2024-3-01", "2024-03-1", "24-03-01", "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32",
        "2024-01-01T", "2024-01-01T12", "2024-01-01T24:00", "2024-01-01T12:60", "2024-01-01T12:00:61", "2024-01-01T12:00:00.",
        "2024-01-01T12:00:00Zjunk", "2024-01-01X12:00", "2024/01/01", "2024-01-01T12:00:00+", "2024-01-01T12:00:00+1",
        "2024-01-01T12:00:00+02:0", "abcd-ef-gh", " 2024-01-01", "2024-01-01 ", "2024-01-01+02:00", "+2024-01-01",
    ])
    func invalidTimestampsAreRejected(text: String) {
        #expect(Timestamps.parseISO8601(text) == nil, "\(text.debugDescription)")
    }

    /// Days past the end of their month are not dates: "2023-02-29" must not silently become March 1
    /// (the parser only checks 1…31 and lets the day arithmetic roll over into the next month).
    @Test(arguments: ["2023-02-29", "2024-02-30", "2024-04-31", "2100-02-29T00:00:00Z", "2024-06-31T12:00:00+02:00"])
    func impossibleCalendarDatesAreRejected(text: String) {
        #expect(Timestamps.parseISO8601(text) == nil, "\(text.debugDescription) parsed as \(Timestamps.parseISO8601(text).map { Timestamps.iso8601(micros: $0) } ?? "nil")")
    }
}

@Suite struct Base64Tests {
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func allByteValuesAndBothAlphabets() {
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
        #expect(Base64.decode("+/+/") == [0xFB, 0xFF, 0xBF])
        #expect(Base64.decode("-_-_") == [0xFB, 0xFF, 0xBF]) // URL-safe alphabet is accepted on input
        #expect(Base64.encode([0, 0, 0]) == "AAAA")
        #expect(Base64.decode("Zm9v\nYmFy\r\n") == Array("foobar".utf8))
        let all = (0 ... 255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
    }

    @Test func randomBytesRoundTrip() throws {
        forEachRandomCase(3000) { c in
            let bytes = c.rng.bytes(0 ... 64)
            let text = Base64.encode(bytes)
            try #require(text.utf8.count == (bytes.count + 2) / 3 * 4, "\(c.replay): length of \(text)")
            try #require(text.utf8.allSatisfy { b in
                (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2B || b == 0x2F || b == 0x3D
            }, "\(c.replay): alphabet of \(text)")
            try #require(Base64.decode(text) == bytes, "\(c.replay): \(bytes) → \(text)")
        }
    }

    @Test(arguments: ["Zm9v!", "Zm 9v", "é", "Zm9v\u{0}", "*", "Zm9v.YmFy"])
    func invalidCharactersAreRejected(text: String) {
        #expect(Base64.decode(text) == nil, "\(text.debugDescription)")
    }
}
