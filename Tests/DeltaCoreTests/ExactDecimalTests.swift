import Testing
@testable import DeltaCore

private func sign(_ x: Int) -> Int { x == 0 ? 0 : (x < 0 ? -1 : 1) }

/// An independent model of a small decimal: mantissa × 10^exponent with exact Int64 arithmetic.
private struct SmallDecimal {
    var mantissa: Int64 // |mantissa| < 10^6
    var exponent: Int   // -6 ... 6

    /// Exact three-way comparison by scaling both to the smaller exponent (fits in Int64: < 10^18).
    static func compare(_ a: SmallDecimal, _ b: SmallDecimal) -> Int {
        let e = min(a.exponent, b.exponent)
        func scaled(_ x: SmallDecimal) -> Int64 {
            var m = x.mantissa
            for _ in 0..<(x.exponent - e) { m *= 10 }
            return m
        }
        let (x, y) = (scaled(a), scaled(b))
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// The normalised plain-notation text, built digit by digit (not with ExactDecimal).
    var canonicalText: String {
        if mantissa == 0 { return "0" }
        var digits = String(mantissa.magnitude)
        var e = exponent
        while digits.hasSuffix("0") { digits.removeLast(); e += 1 }
        let sign = mantissa < 0 ? "-" : ""
        if e >= 0 { return sign + digits + String(repeating: "0", count: e) }
        if digits.count > -e {
            let cut = digits.index(digits.endIndex, offsetBy: e)
            return sign + digits[..<cut] + "." + digits[cut...]
        }
        return sign + "0." + String(repeating: "0", count: -e - digits.count) + digits
    }

    /// Some way of writing the same number: plain with padding zeros, or scientific, with or without +.
    func spelled(_ r: inout SplitMix64) -> String {
        let sign = mantissa < 0 ? "-" : (r.chance(0.2) ? "+" : "")
        let digits = String(mantissa.magnitude)
        let lead = String(repeating: "0", count: r.int(0 ... 2))
        switch r.int(0 ... 2) {
        case 0:
            return sign + lead + digits + r.pick(["e", "E"]) + (exponent >= 0 && r.bool() ? "+" : "") + String(exponent)
        case 1:
            // Plain notation with the point where the exponent puts it, plus trailing zeros.
            let trailing = String(repeating: "0", count: r.int(0 ... 3))
            if exponent >= 0 {
                return sign + lead + digits + String(repeating: "0", count: exponent) + (trailing.isEmpty ? "" : "." + trailing)
            }
            let padded = String(repeating: "0", count: max(0, -exponent - digits.count + 1)) + digits
            let cut = padded.index(padded.endIndex, offsetBy: exponent)
            return sign + lead + padded[..<cut] + "." + padded[cut...] + trailing
        default:
            // Mantissa with a fractional part and a compensating exponent: 12.5e-2 for 125e-3.
            let shift = r.int(0 ... min(3, digits.count))
            let cut = digits.index(digits.endIndex, offsetBy: -shift)
            let body = shift == 0 ? String(digits) : digits[..<cut] + "." + digits[cut...]
            return sign + lead + body + "e" + String(exponent + shift)
        }
    }

    static func random(_ r: inout SplitMix64) -> SmallDecimal {
        let m: Int64 = r.chance(0.1) ? 0 : r.int64(-999_999 ... 999_999)
        return SmallDecimal(mantissa: r.chance(0.2) ? m / 1000 * 1000 : m, exponent: r.int(-6 ... 6))
    }
}

@Suite struct ExactDecimalTests {
    @Test(arguments: [
        ("10.50", "10.5"), ("10.5", "10.5"), ("-0", "0"), ("+0", "0"), ("-0.000", "0"), ("0.000", "0"), ("000", "0"),
        ("+7", "7"), ("007", "7"), ("-007.2500", "-7.25"), ("1e3", "1000"), ("1E3", "1000"), ("1e+3", "1000"),
        ("1.5E-3", "0.0015"), ("-1.5e-3", "-0.0015"), ("0.0015", "0.0015"), ("15e-4", "0.0015"), (".5", "0.5"),
        ("5.", "5"), ("100", "100"), ("1200", "1200"), ("12e2", "1200"), ("0.1", "0.1"), ("  42  ", "42"),
        ("-12.340", "-12.34"), ("0e10", "0"), ("-0e-10", "0"), ("123.456e1", "1234.56"), ("1e0", "1"),
        ("1e40", "1" + String(repeating: "0", count: 40)), ("1e41", "1E+41"), ("1.5e41", "15" + String(repeating: "0", count: 40)), ("1.5e42", "1.5E+42"),
        ("1e-40", "0." + String(repeating: "0", count: 39) + "1"), ("1e-41", "0." + String(repeating: "0", count: 40) + "1"),
        ("1e-42", "1E-42"), ("-2.5e-50", "-2.5E-50"),
        ("NaN", "NaN"), ("nan", "NaN"), ("-NaN", "NaN"), ("Infinity", "Infinity"), ("inf", "Infinity"),
        ("+Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("-inf", "-Infinity"),
    ])
    func normalisesAndDescribes(input: String, expected: String) throws {
        let d = try #require(ExactDecimal(input), "\(input) should parse")
        #expect(d.description == expected)
        // The description parses back to the same value.
        #expect(ExactDecimal(d.description) == d)
    }

    @Test func equalSpellingsAreEqualAndHashEqual() throws {
        let groups: [[String]] = [
            ["10.50", "10.5", "1.05e1", "105e-1", "+10.500000", "0010.5"],
            ["-0", "0", "0.000", "-0.000", "0e5", "+0"],
            ["1e3", "1000", "1000.0", "1E+3", "0.001e6"],
            ["1.5E-3", "0.0015", "15e-4", "0.00150"],
            ["NaN", "nan", "-nan"],
        ]
        for g in groups {
            let values = try g.map { try #require(ExactDecimal($0), "\($0)") }
            for v in values {
                #expect(v == values[0], "\(g)")
                #expect(v.hashValue == values[0].hashValue, "\(g)")
                #expect(ExactDecimal.compare(v, values[0]) == 0, "\(g)")
            }
        }
        #expect(ExactDecimal("1.5") != ExactDecimal("15"))
        #expect(ExactDecimal("-1") != ExactDecimal("1"))
        #expect(ExactDecimal("0.1") != ExactDecimal("0.01"))
        #expect(ExactDecimal("Infinity") != ExactDecimal("-Infinity"))
        #expect(ExactDecimal("NaN") != ExactDecimal("0"))
    }

    @Test(arguments: [
        "", " ", ".", "-", "+", "1.2.3", "abc", "1e", "1E", "e5", ".e5", "-.", "1e+", "1e-", "1e1.5", "1e5e5", "--1", "+-1",
        "1 2", "0x10", "1,5", "1_000", "١٢", "１", "Infinityx", "NaN1", "in", "1e 5", "1e1234567890",
    ])
    func invalidInputIsRejected(input: String) {
        #expect(ExactDecimal(input) == nil, "\(input.debugDescription) must not parse")
    }

    /// A digit followed by a combining mark is one Swift `Character` that compares between "0" and "9";
    /// it is not a decimal digit and must be rejected (otherwise `digits` holds non-ASCII text).
    @Test(arguments: ["1\u{301}", "5\u{20DD}", "12\u{308}3", "0\u{301}.5", "1.2\u{316}"])
    func digitsWithCombiningMarksAreRejected(input: String) {
        #expect(ExactDecimal(input) == nil, "\(input.debugDescription) must not parse")
    }

    @Test func comparesNumerically() throws {
        func lt(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let (x, y) = (ExactDecimal(a)!, ExactDecimal(b)!)
            #expect(ExactDecimal.compare(x, y) < 0, "\(a) < \(b)", sourceLocation: sourceLocation)
            #expect(ExactDecimal.compare(y, x) > 0, "\(b) > \(a)", sourceLocation: sourceLocation)
        }
        lt("-Infinity", "-1e100"); lt("-1e100", "-2"); lt("-2", "-1.5"); lt("-1.5", "-1.49999"); lt("-0.001", "0")
        lt("0", "0.001"); lt("0.001", "0.01"); lt("0.9", "1"); lt("1", "1.0000001"); lt("9.99", "10"); lt("10", "100")
        lt("99", "100"); lt("2", "10"); lt("1e40", "1e41"); lt("1e41", "Infinity"); lt("Infinity", "NaN"); lt("-Infinity", "NaN")
        lt("-10", "-9.99"); lt("-100", "-99"); lt("123.4", "123.45"); lt("0.0015", "0.002")
        #expect(ExactDecimal.compare(ExactDecimal("NaN")!, ExactDecimal("nan")!) == 0)
        #expect(ExactDecimal.compare(ExactDecimal("Infinity")!, ExactDecimal("inf")!) == 0)
        #expect(ExactDecimal.compare(ExactDecimal("-0")!, ExactDecimal("0.0")!) == 0)
    }

    @Test func randomDecimalsMatchAnExactModel() throws {
        forEachRandomCase(4000) { c in
            let a = SmallDecimal.random(&c.rng), b = SmallDecimal.random(&c.rng)
            let ta = a.spelled(&c.rng), tb = b.spelled(&c.rng)
            let x = try #require(ExactDecimal(ta), "\(c.replay): \(ta) (= \(a.mantissa)e\(a.exponent)) should parse")
            let y = try #require(ExactDecimal(tb), "\(c.replay): \(tb) should parse")
            try #require(x.description == a.canonicalText, "\(c.replay): \(ta) described as \(x.description), expected \(a.canonicalText)")
            try #require(ExactDecimal(x.description) == x, "\(c.replay): description \(x.description) does not parse back")
            let expected = SmallDecimal.compare(a, b)
            try #require(sign(ExactDecimal.compare(x, y)) == expected, "\(c.replay): compare(\(ta), \(tb)) = \(ExactDecimal.compare(x, y)), expected \(expected)")
            try #require((x == y) == (expected == 0), "\(c.replay): \(ta) == \(tb) is \(x == y)")
            if x == y { try #require(x.hashValue == y.hashValue, "\(c.replay)") }
            // A second spelling of the same number is equal.
            let t2 = a.spelled(&c.rng)
            try #require(ExactDecimal(t2) == x, "\(c.replay): \(t2) != \(ta)")
            // Negation flips the order.
            if !x.isZero {
                let nx = try #require(ExactDecimal(ta.hasPrefix("-") ? String(ta.dropFirst()) : "-" + ta.drop { $0 == "+" }), "\(c.replay)")
                try #require(ExactDecimal.compare(nx, x) == -ExactDecimal.compare(x, nx) && ExactDecimal.compare(nx, x) != 0, "\(c.replay)")
            }
        }
    }

    @Test func longAndExtremeNumbersRoundTripThroughDescription() throws {
        forEachRandomCase(1500) { c in
            var text = c.rng.bool() ? "-" : ""
            text += String((0..<c.rng.int(1 ... 60)).map { _ in Character(String(c.rng.int(0 ... 9))) })
            if c.rng.bool() { text += "." + String((0..<c.rng.int(1 ... 60)).map { _ in Character(String(c.rng.int(0 ... 9))) }) }
            if c.rng.chance(0.5) { text += "e" + String(c.rng.int(-120 ... 120)) }
            let d = try #require(ExactDecimal(text), "\(c.replay): \(text)")
            let back = try #require(ExactDecimal(d.description), "\(c.replay): description \(d.description) of \(text) does not parse")
            try #require(back == d && back.description == d.description, "\(c.replay): \(text) → \(d.description) → \(back.description)")
            // Through the canonical value encoding as well: its tag, the description's length
            // as a varint (past 127 bytes, two), then the description, as ledgers hold them.
            let encoded = ValueEncoding.encode(.decimal(d))
            let description = Array(d.description.utf8)
            let length: [UInt8] = description.count < 0x80 ? [UInt8(description.count)]
                : [UInt8(description.count & 0x7F) | 0x80, UInt8(description.count >> 7)]
            try #require(encoded == [5] + length + description, "\(c.replay): \(text) encodes as \(encoded)")
            let v = try #require(try? ValueEncoding.decode(encoded), "\(c.replay): encoding of \(text) does not decode")
            try #require(v == .decimal(d), "\(c.replay)")
        }
    }

    /// Every ExactDecimal must print a text that parses back to itself, or the canonical value encoding
    /// (which stores decimals as their description) cannot decode what it encoded. Exponents of up to 9
    /// digits are accepted on input; the scientific form then needs a sign plus 9 digits.
    @Test(arguments: ["1e999999999", "1e100000000", "1.5e99999999", "0.1e-99999999", "123e99999999", "-1e-99999999"])
    func hugeExponentsRoundTrip(input: String) throws {
        let d = try #require(ExactDecimal(input), "\(input) is accepted on input")
        #expect(ExactDecimal(d.description) == d, "description \(d.description) of \(input) must parse back")
        #expect(throws: Never.self, "encoding of \(input) must decode") { try ValueEncoding.decode(ValueEncoding.encode(.decimal(d))) }
        #expect(Array(ValueEncoding.encode(.decimal(d)).dropFirst(2)) == Array(d.description.utf8))
    }

    @Test func specialValues() throws {
        let nan = try #require(ExactDecimal("NaN")), inf = try #require(ExactDecimal("Infinity")), ninf = try #require(ExactDecimal("-Infinity"))
        #expect(nan == ExactDecimal("nan"))
        #expect(!nan.isZero && !inf.isZero && ExactDecimal("0.00")!.isZero && !ExactDecimal("0.01")!.isZero)
        #expect(ExactDecimal.compare(ninf, inf) < 0)
        #expect(ExactDecimal.compare(inf, nan) < 0)
        #expect(ExactDecimal.compare(ninf, ExactDecimal("-1e1000")!) < 0)
        #expect(ExactDecimal.compare(ExactDecimal("1e1000")!, inf) < 0)
        #expect(Set([nan, ExactDecimal("-nan")!, inf, ExactDecimal("inf")!, ninf]).count == 3)
    }
}
