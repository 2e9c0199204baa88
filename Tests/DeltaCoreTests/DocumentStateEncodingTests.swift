import Testing
@testable import DeltaCore

/// The ledger's document encoding: canonical bytes whatever the dictionary order, a faithful
/// round trip, and an ``DocumentStateEncoding/Encoder`` that reuses its name order without ever
/// changing the bytes.
@Suite struct DocumentStateEncodingTests {
    /// A random state over a few shapes, so consecutive states often share names (the encoder's
    /// reuse) and sometimes differ by one name or by count.
    static func state(_ rng: inout SplitMix64) -> DocumentState {
        let shapes: [[String]] = [["id", "name", "qty", "price"], ["id", "name", "qty", "tags"], ["id", "name", "qty"],
                                  ["é", "e", "Z", "a", "ab", "aa", ""]]
        var names = rng.pick(shapes)
        names = rng.shuffled(names)
        var attributes = [AttributeName: AttributeState]()
        for name in names {
            let stamp = Stamp(time: rng.int64(0 ... 1_000_000), counter: UInt32(rng.int(0 ... 3)), origin: StoreID(rng.pick(["pg", "mongo", "b"])))
            let value: Value? = switch rng.int(0 ... 4) {
            case 0: nil
            case 1: .int(rng.int64(-1000 ... 1000))
            case 2: .string(String(repeating: "x", count: rng.int(0 ... 40)))
            case 3: .array([.bool(rng.bool()), .null])
            default: .object(["k": .double(0.5)])
            }
            attributes[name] = AttributeState(value: value, stamp: stamp)
        }
        let tombstone = rng.chance(0.2) ? Stamp(time: rng.int64(0 ... 1_000_000), origin: StoreID("pg")) : nil
        return DocumentState(attributes: attributes, tombstone: tombstone)
    }

    @Test func encoderMatchesTheCanonicalEncodingAndRoundTrips() throws {
        forEachRandomCase(50) { c in
            var encoder = DocumentStateEncoding.Encoder()
            for _ in 0..<40 {
                let state = Self.state(&c.rng)
                let bytes = encoder.encode(state)
                try #require(bytes == DocumentStateEncoding.encode(state), "\(c.replay)")
                try #require(try DocumentStateEncoding.decode(bytes) == state, "\(c.replay)")
            }
        }
    }

    @Test func equalStatesEncodeToEqualBytesWhateverTheirInsertionOrder() throws {
        forEachRandomCase(50) { c in
            let state = Self.state(&c.rng)
            var rebuilt = DocumentState(tombstone: state.tombstone)
            for name in c.rng.shuffled(Array(state.attributes.keys)) { rebuilt.attributes[name] = state.attributes[name] }
            var encoder = DocumentStateEncoding.Encoder()
            let first = encoder.encode(state)
            try #require(encoder.encode(rebuilt) == first, "\(c.replay)")
            try #require(DocumentStateEncoding.encode(rebuilt) == first, "\(c.replay)")
        }
    }

    @Test func namesAreWrittenInUTF8Order() {
        let stamp = Stamp(time: 1, origin: StoreID("s"))
        let state = DocumentState(attributes: ["é": AttributeState(value: nil, stamp: stamp), "b": AttributeState(value: nil, stamp: stamp),
                                               "a": AttributeState(value: nil, stamp: stamp)])
        var encoder = DocumentStateEncoding.Encoder()
        for bytes in [encoder.encode(state), encoder.encode(state)] {
            // No tombstone, three attributes, then "a" (length 1) first.
            #expect(Array(bytes.prefix(4)) == [0, 3, 1, UInt8(ascii: "a")])
            let names = ["a", "b", "é"].map { Array($0.utf8) }
            var at = 2
            for name in names {
                #expect(Int(bytes[at]) == name.count && Array(bytes[(at + 1)...].prefix(name.count)) == name)
                // Name, the "no value" flag, then the stamp: 8 time bytes, counter varint, origin.
                at += 1 + name.count + 1 + 8 + 1 + 2
            }
        }
    }
}
