import Testing
@testable import DeltaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Deterministic generator

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to drive property tests.
/// The same seed always yields the same sequence on every platform.
struct SplitMix64: RandomNumberGenerator {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// One step of the mixer on its own: derives well-spread seeds from related inputs.
    static func mix(_ x: UInt64) -> UInt64 {
        var g = SplitMix64(seed: x)
        return g.next()
    }
}

// MARK: - Seeds and the random-case driver

/// Seeds of the property tests.
///
/// The base seed comes from `DELTABRIDGE_SEED` (decimal or `0x…` hex) when set, otherwise from the
/// system generator. Case 0 of every property test runs with the base seed itself and every failure
/// names the seed of its case, so `DELTABRIDGE_SEED=<case seed> swift test --filter <test>` replays the
/// failing case first. `DELTABRIDGE_CASES_SCALE` (a positive number, default 1) scales case counts.
enum Seeds {
    static let fromEnvironment: UInt64? = {
        guard let raw = getenv("DELTABRIDGE_SEED") else { return nil }
        return parse(String(cString: raw))
    }()

    static let base: UInt64 = fromEnvironment ?? UInt64.random(in: .min ... .max)

    static let scale: Double = {
        guard let raw = getenv("DELTABRIDGE_CASES_SCALE"), let s = Double(String(cString: raw)), s > 0 else { return 1 }
        return s
    }()

    static func parse(_ text: String) -> UInt64? {
        let t = text.trimmingSpaces
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
        return UInt64(t)
    }

    /// The seed of case `index` of the test named `name`: case 0 is the base seed itself (replay),
    /// the others are spread out from the base and the test's name.
    static func caseSeed(base: UInt64, name: String, index: Int) -> UInt64 {
        if index == 0 { return base }
        return SplitMix64.mix(base ^ fnv1a(name) &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03)
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
}

private extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// One random case: its seed (print it in every failure message) and its generator.
struct RandomCase {
    let seed: UInt64
    let index: Int
    var rng: SplitMix64

    /// The text to attach to every expectation of this case.
    var replay: String { "seed \(seed) (replay: DELTABRIDGE_SEED=\(seed))" }
}

/// Runs `count` random cases of one property.
///
/// Inside a case, check with `try #require(condition, "\(c.replay) …")` (or `#expect` with the same
/// comment): the first failing case stops the run and records one summary issue naming its seed, so
/// a broken property reports one replayable counter-example instead of thousands of failures.
/// Returns the number of cases run.
@discardableResult
func forEachRandomCase(
    _ count: Int,
    name: String = #function,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (inout RandomCase) throws -> Void
) -> Int {
    let n = max(1, Int((Double(count) * Seeds.scale).rounded()))
    for index in 0..<n {
        let seed = Seeds.caseSeed(base: Seeds.base, name: name, index: index)
        var c = RandomCase(seed: seed, index: index, rng: SplitMix64(seed: seed))
        do {
            try body(&c)
        } catch {
            // A failed #require has already been recorded with its own message; other errors are not.
            let detail = error is ExpectationFailedError ? "" : "\n\(error)"
            Issue.record(
                "\(name): case \(index) of \(n) failed with seed \(seed) (base seed \(Seeds.base)). Replay: DELTABRIDGE_SEED=\(seed) swift test --filter \(name.split(separator: "(").first ?? "")\(detail)",
                sourceLocation: sourceLocation)
            return index + 1
        }
    }
    return n
}

// MARK: - Small helpers on the generator

extension RandomNumberGenerator {
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func int64(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &self) }
    mutating func bool() -> Bool { Bool.random(using: &self) }
    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }
    mutating func shuffled<T>(_ items: [T]) -> [T] { items.shuffled(using: &self) }
    mutating func bytes(_ count: ClosedRange<Int>) -> [UInt8] {
        (0..<int(count)).map { _ in UInt8.random(in: 0 ... 255, using: &self) }
    }
}

// MARK: - Random values

enum Gen {
    /// String fragments chosen to stress byte-wise ordering and escaping: ASCII, key separators,
    /// precomposed and decomposed accents (canonically equivalent but byte-different), lone
    /// combining marks, emoji with modifiers and ZWJ, CJK, control characters, a non-BMP scalar.
    static let stringPieces: [String] = [
        "a", "b", "Z", "z", "0", "9", " ", "|", "\\", "\"", "\n", "\t", "\u{0}", "\u{7F}",
        "\u{E9}", "e\u{301}", "\u{301}", "\u{308}", "\u{316}", "\u{20DD}", "n\u{303}", "\u{F1}",
        "\u{200D}", "👍", "👍🏽", "👩‍👩‍👧", "日本", "ß", "Å", "A\u{30A}", "\u{212B}",
        "\u{FFFF}", "\u{FFFD}", "\u{10FFFF}", "𝄞", "é|", "|\u{301}", "\\\u{301}",
    ]

    static func string<R: RandomNumberGenerator>(_ r: inout R, maxPieces: Int = 6) -> String {
        let n = r.int(0 ... maxPieces)
        var s = ""
        for _ in 0..<n {
            if r.chance(0.3) {
                // A random scalar anywhere in the code space (surrogates are not scalars: skip them).
                var v = UInt32(r.int(0 ... 0x10FFFF))
                if (0xD800 ... 0xDFFF).contains(v) { v = 0xFFFD }
                s.unicodeScalars.append(Unicode.Scalar(v)!)
            } else {
                s += r.pick(stringPieces)
            }
        }
        return s
    }

    /// Object keys: short, from a small alphabet so that collisions and shared prefixes are common.
    static let keyPieces = ["a", "b", "id", "name", "\u{E9}", "e\u{301}", "x|y", "", "日", "\u{301}"]

    static func key<R: RandomNumberGenerator>(_ r: inout R) -> String {
        var s = r.pick(keyPieces)
        if r.chance(0.3) { s += r.pick(keyPieces) }
        return s
    }

    static let decimalTexts = [
        "0", "-0", "-0.000", "0.000", "10.50", "10.5", "1e5", "100000", "1.5E-3", "-1.5e-3", "+7",
        "007.2500", "123456789012345678901234567890.123456789", "-99.99", "1e40", "1e41", "1e-41",
        "1e-42", "0.1", ".5", "5.", "NaN", "Infinity", "-Infinity", "1E+60", "-12.340", "3.14159",
    ]

    static func decimal<R: RandomNumberGenerator>(_ r: inout R) -> ExactDecimal {
        if r.chance(0.4) { return ExactDecimal(r.pick(decimalTexts))! }
        var text = r.pick(["", "-", "+"])
        text += String(repeating: "0", count: r.int(0 ... 2))
        text += String((0..<r.int(1 ... 12)).map { _ in Character(String(r.int(0 ... 9))) })
        if r.chance(0.5) {
            text += "." + String((0..<r.int(0 ... 8)).map { _ in Character(String(r.int(0 ... 9))) })
        }
        if r.chance(0.3) { text += r.pick(["e", "E"]) + String(r.int(-60 ... 60)) }
        return ExactDecimal(text)!
    }

    static let specialDoubles: [Double] = [
        0.0, -0.0, .nan, -.nan, Double(nan: 0x1234, signaling: false), .signalingNaN, .infinity, -.infinity,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
        .leastNormalMagnitude, 1.0, -1.0, 0.1, 1e300, -1e-300, 42.0, 0.5,
    ]

    static func double<R: RandomNumberGenerator>(_ r: inout R) -> Double {
        switch r.int(0 ... 2) {
        case 0: return r.pick(specialDoubles)
        case 1: return Double(bitPattern: r.next())
        default: return Double(r.int(-1000 ... 1000)) / Double(r.pick([1, 2, 4, 10, 3]))
        }
    }

    static func int<R: RandomNumberGenerator>(_ r: inout R) -> Int64 {
        switch r.int(0 ... 3) {
        case 0: return r.pick([0, 1, -1, .max, .min, .max - 1, .min + 1, 42])
        case 1: return Int64(bitPattern: r.next())
        default: return r.int64(-100 ... 100)
        }
    }

    static func timestamp<R: RandomNumberGenerator>(_ r: inout R) -> Int64 {
        switch r.int(0 ... 2) {
        case 0: return r.pick([0, -1, 1, .max, .min, 1_709_294_400_123_456])
        case 1: return Int64(bitPattern: r.next())
        default: return r.int64(-62_135_596_800_000_000 ... 253_402_300_799_999_999)
        }
    }

    /// A random value of any case; arrays and objects nest up to `depth` levels.
    static func value<R: RandomNumberGenerator>(_ r: inout R, depth: Int = 3) -> Value {
        let maxCase = depth > 0 ? 9 : 7
        return value(ofCase: r.int(0 ... maxCase), &r, depth: depth)
    }

    /// A random value of the given case (0 = null … 9 = object, the documented rank order).
    static func value<R: RandomNumberGenerator>(ofCase c: Int, _ r: inout R, depth: Int = 3) -> Value {
        switch c {
        case 0: return .null
        case 1: return .bool(r.bool())
        case 2: return .int(int(&r))
        case 3: return .double(double(&r))
        case 4: return .decimal(decimal(&r))
        case 5: return .string(string(&r))
        case 6: return .bytes(r.bytes(0 ... 8))
        case 7: return .timestamp(timestamp(&r))
        case 8:
            guard depth > 0 else { return .array([]) }
            return .array((0..<r.int(0 ... 4)).map { _ in value(&r, depth: depth - 1) })
        default:
            guard depth > 0 else { return .object([:]) }
            var o = [String: Value]()
            for _ in 0..<r.int(0 ... 4) { o[key(&r)] = value(&r, depth: depth - 1) }
            return .object(o)
        }
    }

    /// A value that should be `==` to `v` but may be built differently: -0.0 for 0.0, another NaN
    /// payload, a decimal spelled another way, object keys inserted in another order, and (with
    /// `swapKeys`) object keys swapped for a canonically equivalent but byte-different spelling, which
    /// must then NOT be equal (values are equal by bytes).
    /// Returns the variant and whether it is expected to be equal to `v`.
    static func variant<R: RandomNumberGenerator>(of v: Value, _ r: inout R, swapKeys: Bool = false) -> (Value, equal: Bool) {
        switch v {
        case let .double(d):
            if d.isNaN { return (.double(r.pick([Double.nan, -.nan, Double(nan: 7, signaling: false), .signalingNaN])), true) }
            if d == 0 { return (.double(r.bool() ? 0.0 : -0.0), true) }
            return (v, true)
        case let .decimal(d):
            // Re-spell with trailing zeros or an exponent; must stay the same value.
            let text = d.description
            guard d.kind == .finite, !text.contains("E") else { return (v, true) }
            let spelled: String
            switch r.int(0 ... 2) {
            case 0: spelled = text.contains(".") ? text + "000" : text + ".000"
            case 1: spelled = text + "e0"
            default: spelled = (text.hasPrefix("-") ? "-00" + text.dropFirst() : "00" + text)
            }
            return (.decimal(ExactDecimal(spelled)!), true)
        case let .array(a):
            var equal = true
            let items = a.map { x -> Value in
                let (y, e) = variant(of: x, &r, swapKeys: swapKeys)
                equal = equal && e
                return y
            }
            return (.array(items), equal)
        case let .object(o):
            var equal = true
            var out = [String: Value]()
            for k in r.shuffled(Array(o.keys)) {
                let (y, e) = variant(of: o[k]!, &r, swapKeys: swapKeys)
                equal = equal && e
                var key = k
                if swapKeys, r.chance(0.3), let swapped = swapEquivalent(k) {
                    key = swapped
                    equal = false
                }
                out[key] = y
            }
            return (.object(out), equal)
        default:
            return (v, true)
        }
    }

    /// The NFC spelling for an NFD one and vice versa, for the few pairs `keyPieces` uses.
    static func swapEquivalent(_ s: String) -> String? {
        if s.unicodeScalars.contains("\u{E9}") {
            return String(String.UnicodeScalarView(s.unicodeScalars.flatMap { $0 == "\u{E9}" ? ["e", "\u{301}"] as [Unicode.Scalar] : [$0] }))
        }
        if s.utf8.elementsEqual("e\u{301}".utf8) { return "\u{E9}" }
        return nil
    }

    // MARK: Stamps and deltas

    static let origins: [StoreID] = ["couch", "maria", "mongo", "pg", "sqlite"]

    /// A stamp from a narrow window so that equal times, counters and full ties are common.
    static func stamp<R: RandomNumberGenerator>(_ r: inout R, origins: [StoreID] = origins,
                                                times: ClosedRange<Int64> = 1_000 ... 1_008) -> Stamp {
        Stamp(time: r.int64(times), counter: UInt32(r.int(0 ... 2)), origin: r.pick(origins))
    }

    /// A value for merge tests: mostly from a small pool (so that equal values meet), sometimes any value.
    static func mergeValue<R: RandomNumberGenerator>(_ r: inout R) -> Value {
        if r.chance(0.25) { return value(&r, depth: 2) }
        return r.pick([.null, .bool(false), .bool(true), .int(1), .int(2), .string("x"), .string("y"), .double(-0.0), .double(.nan)])
    }

    static func change<R: RandomNumberGenerator>(_ r: inout R, attributes: [AttributeName]) -> Delta.Change {
        let p = r.int(0 ..< 100)
        if p < 60 { return .set(r.pick(attributes), mergeValue(&r)) }
        if p < 82 { return .unset(r.pick(attributes)) }
        return .tombstone
    }

    static func delta<R: RandomNumberGenerator>(_ r: inout R, namespaces: [Namespace], keys: [DocumentKey],
                                                attributes: [AttributeName], origins: [StoreID],
                                                times: ClosedRange<Int64> = 1_000 ... 1_008) -> Delta {
        Delta(namespace: r.pick(namespaces), key: r.pick(keys), change: change(&r, attributes: attributes),
              stamp: stamp(&r, origins: origins, times: times))
    }
}

// MARK: - Self-tests of the machinery

@Suite struct SeededGeneratorTests {
    @Test func splitMixIsDeterministicAndMatchesReferenceVector() {
        // Reference outputs of SplitMix64 seeded with 0 (from the published C implementation).
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(g.next() == 0x06C4_5D18_8009_454F)
        var a = SplitMix64(seed: 12345), b = SplitMix64(seed: 12345)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
    }

    @Test func caseZeroReplaysTheBaseSeedAndOtherCasesDiffer() {
        #expect(Seeds.caseSeed(base: 99, name: "t()", index: 0) == 99)
        let seeds = (0..<1000).map { Seeds.caseSeed(base: 99, name: "t()", index: $0) }
        #expect(Set(seeds).count == 1000)
        #expect(Seeds.caseSeed(base: 99, name: "t()", index: 1) != Seeds.caseSeed(base: 99, name: "u()", index: 1))
        #expect(Seeds.parse("0x10") == 16)
        #expect(Seeds.parse(" 42 ") == 42)
        #expect(Seeds.parse("x") == nil)
    }

    @Test func generatorReachesEveryValueCase() {
        var seen = Set<UInt8>()
        forEachRandomCase(400) { c in
            let v = Gen.value(&c.rng)
            seen.insert(v.typeRank)
        }
        #expect(seen == Set(0 ... 9))
    }
}
