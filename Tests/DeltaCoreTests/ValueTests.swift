import Testing
@testable import DeltaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func enc(_ v: Value) -> [UInt8] { ValueEncoding.encode(v) }

private func sign(_ x: Int) -> Int { x == 0 ? 0 : (x < 0 ? -1 : 1) }

private func dec(_ text: String) -> ExactDecimal { ExactDecimal(text)! }

@Suite struct ValueEncodingTests {
    @Test func randomValuesRoundTripThroughTheCanonicalEncoding() throws {
        forEachRandomCase(3000) { c in
            let v = Gen.value(&c.rng)
            let bytes = enc(v)
            let back = try #require(try? ValueEncoding.decode(bytes), "\(c.replay): decode failed for \(v)")
            try #require(back == v, "\(c.replay): decode(encode(v)) != v for \(v), got \(back)")
            try #require(enc(back) == bytes, "\(c.replay): encoding not stable for \(v)")
            try #require(Value.compare(back, v) == 0, "\(c.replay): compare(decode(encode(v)), v) != 0 for \(v)")
        }
    }

    @Test func knownEncodings() throws {
        #expect(enc(.null) == [0])
        #expect(enc(.bool(false)) == [1])
        #expect(enc(.bool(true)) == [2])
        #expect(enc(.int(1)) == [3, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(enc(.int(-1)) == [3] + Array(repeating: 0xFF, count: 8))
        #expect(enc(.double(1.0)) == [4, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(enc(.decimal(dec("10.50"))) == [5, 4] + Array("10.5".utf8))
        #expect(enc(.string("é")) == [6, 2, 0xC3, 0xA9])
        #expect(enc(.bytes([1, 2])) == [7, 2, 1, 2])
        #expect(enc(.timestamp(256)) == [8, 0, 0, 0, 0, 0, 0, 1, 0])
        #expect(enc(.array([.null, .bool(true)])) == [9, 2, 0, 2])
        #expect(enc(.object(["b": .null, "a": .bool(true)])) == [10, 2, 1, 0x61, 2, 1, 0x62, 0])
        // Lengths are LEB128: 200 bytes → 0xC8 0x01.
        #expect(Array(enc(.bytes(Array(repeating: 7, count: 200))).prefix(3)) == [7, 0xC8, 0x01])
    }

    @Test func equalValuesHaveEqualEncodingsAndHashesAndCompareZero() throws {
        forEachRandomCase(3000) { c in
            let a = Gen.value(&c.rng)
            let (b, expectEqual) = Gen.variant(of: a, &c.rng)
            let equal = a == b
            try #require(equal == expectEqual, "\(c.replay): a == b is \(equal), expected \(expectEqual)\n a = \(a)\n b = \(b)")
            try #require(equal == (enc(a) == enc(b)), "\(c.replay): == is \(equal) but encodings equal is \(enc(a) == enc(b))\n a = \(a)\n b = \(b)")
            try #require(equal == (Value.compare(a, b) == 0), "\(c.replay): == is \(equal) but compare is \(Value.compare(a, b))\n a = \(a)\n b = \(b)")
            if equal {
                try #require(a.hashValue == b.hashValue, "\(c.replay): equal values hash differently\n a = \(a)\n b = \(b)")
            }
            // Unrelated random pairs: == ⇔ equal encodings ⇔ compare == 0.
            let x = Gen.value(&c.rng), y = Gen.value(&c.rng)
            let xy = x == y
            try #require(xy == (enc(x) == enc(y)) && xy == (Value.compare(x, y) == 0),
                         "\(c.replay): ==, encoding and compare disagree\n x = \(x)\n y = \(y)")
            if xy { try #require(x.hashValue == y.hashValue, "\(c.replay): hash differs for equal \(x)") }
        }
    }

    /// Random objects with a key spelled "é" (U+00E9) compared with the same object where that key is
    /// spelled "e\u{301}": whatever `==` decides, it must agree with the encoding, compare and hash.
    @Test func canonicallyEquivalentObjectKeysKeepTheValueInvariants() throws {
        forEachRandomCase(500) { c in
            var o = [String: Value]()
            for _ in 0..<c.rng.int(0 ... 3) { o[Gen.key(&c.rng)] = Gen.value(&c.rng, depth: 1) }
            o[c.rng.pick(["\u{E9}", "e\u{301}"])] = Gen.value(&c.rng, depth: 1)
            let a = Value.object(c.rng.bool() ? o : ["nested": .object(o)])
            let (b, _) = Gen.variant(of: a, &c.rng, swapKeys: true)
            let equal = a == b
            try #require(equal == (enc(a) == enc(b)), "\(c.replay): == is \(equal) but encodings equal is \(enc(a) == enc(b))\n a = \(a)\n b = \(b)")
            try #require(equal == (Value.compare(a, b) == 0), "\(c.replay): == is \(equal) but compare is \(Value.compare(a, b))\n a = \(a)\n b = \(b)")
            if equal { try #require(a.hashValue == b.hashValue, "\(c.replay): equal values hash differently\n a = \(a)\n b = \(b)") }
        }
    }

    @Test func distinctValuesRarelyShareAHash() {
        // Not required by Hashable, but a hash that ignores part of a value would make the ledger's
        // dictionaries and sets degrade; distinct random values should almost never collide.
        var r = SplitMix64(seed: Seeds.base)
        var byEncoding = [[UInt8]: Int]()
        for _ in 0..<3000 {
            let v = r.chance(0.5) ? Value.string(Gen.string(&r, maxPieces: 8)) : Gen.value(&r, depth: 2)
            byEncoding[enc(v)] = v.hashValue
        }
        let distinctHashes = Set(byEncoding.values).count
        #expect(Double(distinctHashes) >= Double(byEncoding.count) * 0.99,
                "seed \(Seeds.base): \(byEncoding.count) distinct values share only \(distinctHashes) hashes")
    }

    @Test func objectKeyOrderDoesNotMatter() throws {
        forEachRandomCase(500) { c in
            var pairs = [(String, Value)]()
            var seen = Set<[UInt8]>()
            for _ in 0..<c.rng.int(0 ... 6) {
                let k = Gen.key(&c.rng) + String(c.rng.int(0 ... 99))
                // Only byte-distinct and not canonically equivalent keys (a Swift dictionary merges those).
                guard seen.insert(Array(k.utf8)).inserted, !pairs.contains(where: { $0.0 == k }) else { continue }
                pairs.append((k, Gen.value(&c.rng, depth: 1)))
            }
            let forward = Value.object(Dictionary(uniqueKeysWithValues: pairs))
            var backward = [String: Value]()
            for (k, v) in c.rng.shuffled(pairs).reversed() { backward[k] = v }
            let b = Value.object(backward)
            try #require(forward == b, "\(c.replay)")
            try #require(enc(forward) == enc(b), "\(c.replay)")
            try #require(forward.hashValue == b.hashValue, "\(c.replay)")
            try #require(forward.description == b.description, "\(c.replay)")
        }
    }

    @Test func doublesAreCanonical() throws {
        #expect(Value.double(.nan) == .double(.nan))
        #expect(Value.double(.nan) == .double(-.nan))
        #expect(Value.double(.nan) == .double(Double(nan: 0x55, signaling: false)))
        #expect(Value.double(.nan) == .double(.signalingNaN))
        #expect(enc(.double(.nan)) == enc(.double(Double(nan: 0x55, signaling: true))))
        #expect(Value.double(.nan).hashValue == Value.double(-.nan).hashValue)
        #expect(Value.double(-0.0) == .double(0.0))
        #expect(enc(.double(-0.0)) == enc(.double(0.0)))
        #expect(enc(.double(-0.0)) == [4, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(Value.double(-0.0).hashValue == Value.double(0.0).hashValue)
        #expect(Value.compare(.double(-0.0), .double(0.0)) == 0)
        #expect(Value.double(1.0) != .double(-1.0))
        #expect(Value.double(.infinity) != .double(-.infinity))
        #expect(Value.double(.nan) != .double(.infinity))
        // A non-canonical NaN that arrives in an encoding decodes to a value equal to the canonical one.
        let odd = try ValueEncoding.decode([4, 0x7F, 0xF0, 0, 0, 0, 0, 0, 1])
        #expect(odd == .double(.nan))
        #expect(enc(odd) == enc(.double(.nan)))
    }

    @Test func typesNeverCompareEqualAcrossCases() {
        // Same "number" in different cases: distinct values with distinct encodings.
        let ones: [Value] = [.bool(true), .int(1), .double(1), .decimal(dec("1")), .string("1"), .bytes([1]), .timestamp(1), .array([.int(1)])]
        for (i, a) in ones.enumerated() {
            for (j, b) in ones.enumerated() where i != j {
                #expect(a != b)
                #expect(enc(a) != enc(b))
                #expect(Value.compare(a, b) != 0)
            }
        }
        #expect(Value.null != .object([:]))
        #expect(Value.array([]) != .object([:]))
        #expect(Value.string("") != .bytes([]))
        #expect(Value.null != .string(""))
    }

    @Test func stringsAreComparedByBytesNotByCanonicalEquivalence() {
        let nfc = Value.string("\u{E9}"), nfd = Value.string("e\u{301}")
        #expect(nfc != nfd)
        #expect(enc(nfc) != enc(nfd))
        #expect(Value.compare(nfd, nfc) < 0) // 0x65 < 0xC3
    }

    /// Documented invariant (Value.swift): equality is byte-wise and agrees with hash, compare and the
    /// encoding. Object keys that are canonically equivalent but byte-different ("é" vs "e\u{301}")
    /// break it, because object equality looks keys up in a Swift dictionary (canonical equivalence).
    @Test func objectKeysCompareByBytesLikeStrings() {
        let nfc = Value.object(["\u{E9}": .int(1)])
        let nfd = Value.object(["e\u{301}": .int(1)])
        #expect(enc(nfc) != enc(nfd))
        #expect(Value.compare(nfc, nfd) != 0)
        #expect((nfc == nfd) == (enc(nfc) == enc(nfd)), "== must agree with the canonical encoding")
        #expect((nfc == nfd) == (Value.compare(nfc, nfd) == 0), "== must agree with compare")
    }

    @Test func decodingGarbageThrowsOrYieldsAStableValue() throws {
        var decodedCount = 0
        forEachRandomCase(3000) { c in
            var bytes: [UInt8]
            switch c.rng.int(0 ... 2) {
            case 0:
                bytes = c.rng.bytes(0 ... 48)
            case 1:
                // Mostly valid tags and small lengths: gets deeper into the decoder.
                bytes = (0..<c.rng.int(1 ... 40)).map { _ in UInt8(c.rng.chance(0.7) ? c.rng.int(0 ... 11) : c.rng.int(0 ... 255)) }
            default:
                // A valid encoding with a few bytes flipped, inserted or removed.
                bytes = enc(Gen.value(&c.rng))
                for _ in 0..<c.rng.int(1 ... 3) where !bytes.isEmpty {
                    let i = c.rng.int(0 ..< bytes.count)
                    switch c.rng.int(0 ... 2) {
                    case 0: bytes[i] = UInt8(c.rng.int(0 ... 255))
                    case 1: bytes.insert(UInt8(c.rng.int(0 ... 255)), at: i)
                    default: bytes.remove(at: i)
                    }
                }
            }
            do {
                let v = try ValueEncoding.decode(bytes)
                decodedCount += 1
                // Whatever decodes re-encodes canonically and decodes to an equal value.
                let again = try #require(try? ValueEncoding.decode(enc(v)), "\(c.replay): re-encoding of decoded garbage does not decode: \(bytes)")
                try #require(again == v, "\(c.replay): \(bytes)")
            } catch let e as ValueEncoding.DecodingError {
                try #require(e.offset >= 0 && e.offset <= bytes.count, "\(c.replay): offset \(e.offset) outside input of \(bytes.count) bytes")
                try #require(!e.description.isEmpty, "\(c.replay)")
            }
        }
        #expect(decodedCount > 0) // the mutations do hit valid encodings sometimes
    }

    @Test func truncatedAndExtendedEncodingsThrow() throws {
        forEachRandomCase(1000) { c in
            let v = Gen.value(&c.rng)
            let bytes = enc(v)
            for n in 0..<bytes.count {
                do {
                    let got = try ValueEncoding.decode(bytes[0..<n])
                    try #require(Bool(false), "\(c.replay): prefix of \(n)/\(bytes.count) bytes of \(v) decoded to \(got)")
                } catch is ValueEncoding.DecodingError {}
            }
            do {
                let got = try ValueEncoding.decode(bytes + [c.rng.pick([0, 1, 2, 0xFF])])
                try #require(Bool(false), "\(c.replay): trailing byte accepted after \(v): \(got)")
            } catch is ValueEncoding.DecodingError {}
        }
    }

    @Test func specificMalformedInputsThrow() {
        let bad: [[UInt8]] = [
            [], [11], [0xFF], [0, 0], [3, 1, 2], [4], [5, 3, 0x31], [5, 1, 0x2E], [5, 3, 0x61, 0x62, 0x63],
            [6, 5, 0x61], [9, 2, 0], [10, 1, 1, 0x61], [10, 1, 1], [9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            [6] + Array(repeating: 0x80, count: 11) + [0], // varint longer than 64 bits
            [9, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // count 2^63, far past the end
        ]
        for b in bad {
            #expect(throws: ValueEncoding.DecodingError.self, "\(b)") { try ValueEncoding.decode(b) }
        }
    }

    @Test func deepNestingIsRejectedWithoutCrashing() async throws {
        // 100 000 nested one-element arrays: the decoder must refuse past its limit, not overflow the
        // stack. Run in a child process so that a stack overflow fails this test, not the whole run.
        await #expect(processExitsWith: .success) {
            let depth = 100_000
            var bytes = [UInt8]()
            bytes.reserveCapacity(depth * 2 + 1)
            for _ in 0..<depth { bytes += [9, 1] }
            bytes.append(0)
            do {
                _ = try ValueEncoding.decode(bytes)
                exit(3) // accepted: also a failure
            } catch {}
        }
        // Within the limit it decodes.
        var ok = [UInt8]()
        for _ in 0..<100 { ok += [9, 1] }
        ok.append(0)
        var v = try ValueEncoding.decode(ok)
        var levels = 0
        while case let .array(a) = v, let first = a.first { v = first; levels += 1 }
        #expect(levels == 100)
        #expect(v == .null)
    }
}

@Suite struct ValueOrderTests {
    /// The rank order documented in ValueOrder.swift, written out independently of `typeRank`.
    static let documentedOrder = ["null", "bool", "int", "double", "decimal", "string", "bytes", "timestamp", "array", "object"]

    @Test func crossTypeOrderIsTheDocumentedRankOrder() throws {
        forEachRandomCase(2000) { c in
            let i = c.rng.int(0 ... 9), j = c.rng.int(0 ... 9)
            let a = Gen.value(ofCase: i, &c.rng), b = Gen.value(ofCase: j, &c.rng)
            let ia = try #require(Self.documentedOrder.firstIndex(of: a.typeName), "\(c.replay)")
            let ib = try #require(Self.documentedOrder.firstIndex(of: b.typeName), "\(c.replay)")
            try #require(ia == i && ib == j, "\(c.replay): generator case \(i)/\(j) gave \(a.typeName)/\(b.typeName)")
            if ia != ib {
                try #require(sign(Value.compare(a, b)) == (ia < ib ? -1 : 1), "\(c.replay): \(a) vs \(b)")
                try #require((a < b) == (ia < ib), "\(c.replay)")
            }
        }
        // Extremes of each case against the next case.
        let ladder: [Value] = [
            .null, .bool(true), .int(.max), .double(.nan), .decimal(dec("NaN")), .string("\u{10FFFF}\u{10FFFF}"),
            .bytes([0xFF, 0xFF]), .timestamp(.max), .array([.object(["z": .null])]), .object([:]),
        ]
        for i in 0..<ladder.count {
            for j in 0..<ladder.count {
                #expect(sign(Value.compare(ladder[i], ladder[j])) == sign(i - j), "\(ladder[i]) vs \(ladder[j])")
            }
        }
    }

    @Test func withinTypeOrderFollowsTheDocumentation() {
        func lt(_ a: Value, _ b: Value, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(Value.compare(a, b) < 0, "\(a) < \(b)", sourceLocation: sourceLocation)
            #expect(Value.compare(b, a) > 0, "\(b) > \(a)", sourceLocation: sourceLocation)
        }
        lt(.bool(false), .bool(true))
        lt(.int(.min), .int(-1)); lt(.int(-1), .int(0)); lt(.int(9), .int(10)); lt(.int(.max - 1), .int(.max))
        lt(.timestamp(-1), .timestamp(0)); lt(.timestamp(.min), .timestamp(.max))
        lt(.double(-.infinity), .double(-1e308)); lt(.double(-1), .double(-0.0)); lt(.double(0.0), .double(.leastNonzeroMagnitude))
        lt(.double(1e308), .double(.infinity)); lt(.double(.infinity), .double(.nan)); lt(.double(.infinity), .double(-.nan))
        lt(.decimal(dec("-Infinity")), .decimal(dec("-1e100"))); lt(.decimal(dec("-2")), .decimal(dec("-1.5")))
        lt(.decimal(dec("9.99")), .decimal(dec("10"))); lt(.decimal(dec("1e40")), .decimal(dec("Infinity")))
        lt(.decimal(dec("Infinity")), .decimal(dec("NaN")))
        // Strings by UTF-8 bytes: "Z" < "a" < "é" (C3 A9); U+FFFF (EF BF BF) < U+1D11E (F0 …), unlike UTF-16 order.
        lt(.string(""), .string("\u{0}")); lt(.string("Z"), .string("a")); lt(.string("z"), .string("\u{E9}"))
        lt(.string("e\u{301}"), .string("\u{E9}")); lt(.string("\u{FFFF}"), .string("𝄞")); lt(.string("ab"), .string("abc"))
        lt(.bytes([]), .bytes([0])); lt(.bytes([1, 255]), .bytes([2])); lt(.bytes([0x7F]), .bytes([0x80]))
        // Arrays: element by element, shorter prefix first.
        lt(.array([]), .array([.null])); lt(.array([.int(1)]), .array([.int(1), .null])); lt(.array([.int(1), .int(9)]), .array([.int(2)]))
        lt(.array([.null, .int(5)]), .array([.bool(false)]))
        // Objects: sorted entries compared as (key, value) pairs, shorter prefix first.
        lt(.object([:]), .object(["a": .null]))
        lt(.object(["a": .int(1)]), .object(["a": .int(1), "b": .null]))
        lt(.object(["a": .int(1), "b": .null]), .object(["a": .int(2)]))
        lt(.object(["a": .int(5), "c": .int(1)]), .object(["b": .int(0)]))
        lt(.object(["b": .int(0)]), .object(["ba": .int(0)]))
        // Equal within type.
        #expect(Value.compare(.double(.nan), .double(-.nan)) == 0)
        #expect(Value.compare(.decimal(dec("1.50")), .decimal(dec("1.5"))) == 0)
        #expect(Value.compare(.object(["a": .int(1), "b": .int(2)]), .object(["b": .int(2), "a": .int(1)])) == 0)
    }

    /// Values of mostly the same case, so that within-case comparisons dominate.
    static func sameishTriple(_ r: inout SplitMix64) -> [Value] {
        let k = r.int(0 ... 9)
        return (0..<3).map { _ in r.chance(0.85) ? Gen.value(ofCase: k, &r, depth: 2) : Gen.value(&r, depth: 2) }
    }

    @Test func totalOrderIsAntisymmetricTransitiveAndAgreesWithEquality() throws {
        forEachRandomCase(4000) { c in
            var t = Self.sameishTriple(&c.rng)
            if c.rng.chance(0.3) { t[1] = Gen.variant(of: t[0], &c.rng).0 } // near-equal pairs
            let (a, b, d) = (t[0], t[1], t[2])
            for (x, y) in [(a, b), (b, d), (a, d)] {
                let xy = Value.compare(x, y), yx = Value.compare(y, x)
                try #require(sign(xy) == -sign(yx), "\(c.replay): antisymmetry: compare(x,y)=\(xy), compare(y,x)=\(yx)\n x = \(x)\n y = \(y)")
                try #require((xy == 0) == (x == y), "\(c.replay): compare==0 is \(xy == 0) but == is \(x == y)\n x = \(x)\n y = \(y)")
                try #require(Value.compare(x, x) == 0, "\(c.replay): reflexivity \(x)")
            }
            // Transitivity over all orderings of the triple.
            for p in [[a, b, d], [a, d, b], [b, a, d], [b, d, a], [d, a, b], [d, b, a]] {
                if Value.compare(p[0], p[1]) <= 0 && Value.compare(p[1], p[2]) <= 0 {
                    try #require(Value.compare(p[0], p[2]) <= 0, "\(c.replay): transitivity\n \(p[0])\n \(p[1])\n \(p[2])")
                }
                if Value.compare(p[0], p[1]) < 0 && Value.compare(p[1], p[2]) < 0 {
                    try #require(Value.compare(p[0], p[2]) < 0, "\(c.replay): strict transitivity\n \(p[0])\n \(p[1])\n \(p[2])")
                }
            }
        }
    }

    @Test func sortingIsConsistentAcrossWholeLists() throws {
        forEachRandomCase(300) { c in
            let k = c.rng.int(0 ... 9)
            let list = (0..<12).map { _ in c.rng.chance(0.8) ? Gen.value(ofCase: k, &c.rng, depth: 2) : Gen.value(&c.rng, depth: 2) }
            let sorted = list.sorted { Value.compare($0, $1) < 0 }
            for i in 0..<sorted.count {
                for j in (i + 1)..<sorted.count {
                    try #require(Value.compare(sorted[i], sorted[j]) <= 0, "\(c.replay): sorted list out of order at \(i),\(j)\n \(sorted[i])\n \(sorted[j])")
                }
            }
            // Sorting a shuffled copy gives the same sequence of encodings (the order is total).
            let again = c.rng.shuffled(list).sorted { Value.compare($0, $1) < 0 }
            try #require(zip(sorted, again).allSatisfy { Value.compare($0, $1) == 0 }, "\(c.replay): order depends on input order")
        }
    }

    @Test func intsAndTimestampsCompareNumerically() throws {
        forEachRandomCase(2000) { c in
            let x = Gen.int(&c.rng), y = Gen.int(&c.rng)
            let expected = x == y ? 0 : (x < y ? -1 : 1)
            try #require(sign(Value.compare(.int(x), .int(y))) == expected, "\(c.replay): \(x) vs \(y)")
            try #require(sign(Value.compare(.timestamp(x), .timestamp(y))) == expected, "\(c.replay): ts \(x) vs \(y)")
            let d = Gen.double(&c.rng), e = Gen.double(&c.rng)
            let de = d.isNaN ? (e.isNaN ? 0 : 1) : (e.isNaN ? -1 : (d == e ? 0 : (d < e ? -1 : 1)))
            try #require(sign(Value.compare(.double(d), .double(e))) == de, "\(c.replay): \(d) vs \(e)")
        }
    }

    @Test func descriptionIsJSONLike() {
        #expect(Value.null.description == "null")
        #expect(Value.bool(true).description == "true")
        #expect(Value.int(-3).description == "-3")
        #expect(Value.double(1.5).description == "1.5")
        #expect(Value.double(.infinity).description == "\"inf\"")
        #expect(Value.decimal(dec("10.50")).description == "10.5")
        #expect(Value.string("a\"b\\c\n\u{1}").description == "\"a\\\"b\\\\c\\n\\u0001\"")
        #expect(Value.bytes([0x66, 0x6F]).description == "b64:Zm8=")
        #expect(Value.timestamp(0).description == "\"1970-01-01T00:00:00Z\"")
        #expect(Value.array([.int(1), .null]).description == "[1,null]")
        #expect(Value.object(["b": .int(1), "a": .array([])]).description == "{\"a\":[],\"b\":1}")
    }
}
