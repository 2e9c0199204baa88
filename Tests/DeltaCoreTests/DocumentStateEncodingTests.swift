import Testing
@testable import DeltaCore

/// The ledger's document encoding: canonical bytes whatever the dictionary order, a faithful
/// round trip, and an ``DocumentStateEncoding/Encoder`` that reuses its name order without ever
/// changing the bytes.
@Suite struct DocumentStateEncodingTests {
    /// A random state over a few shapes, so consecutive states often share names (the encoder's
    /// reuse) and sometimes differ by one name or by count.
    static func state(_ rng: inout SplitMix64) -> DocumentState {
        // Wide shapes too: past `Encoder.smallState` names the encoder looks names up by hash.
        let wide = (0..<20).map { "column \($0)" }
        let shapes: [[String]] = [["id", "name", "qty", "price"], ["id", "name", "qty", "tags"], ["id", "name", "qty"],
                                  ["é", "e", "Z", "a", "ab", "aa", ""], wide, wide.dropLast() + ["a longer column name than fifteen bytes"]]
        var names = rng.pick(shapes)
        names = rng.shuffled(names)
        var attributes = [AttributeName: AttributeState]()
        // Attributes written together share a stamp (a snapshot stamps a whole row with one).
        let shared = Stamp(time: rng.int64(0 ... 1_000_000), counter: UInt32(rng.int(0 ... 3)), origin: StoreID(rng.pick(["pg", "mongo", "b"])))
        for name in names {
            let stamp = rng.chance(0.5) ? shared
                : Stamp(time: rng.int64(0 ... 1_000_000), counter: UInt32(rng.int(0 ... 3)), origin: StoreID(rng.pick(["pg", "mongo", "b"])))
            let value: Value? = switch rng.int(0 ... 4) {
            case 0: nil
            case 1: .int(rng.int64(-1000 ... 1000))
            case 2: .string(String(repeating: "x", count: rng.int(0 ... 40)))
            case 3: .array([.bool(rng.bool()), .null])
            default: .object(["k": .double(0.5)])
            }
            attributes[name] = AttributeState(value: value, stamp: stamp)
        }
        let tombstone = rng.chance(0.2) ? (rng.chance(0.5) ? shared : Stamp(time: rng.int64(0 ... 1_000_000), origin: StoreID("pg"))) : nil
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

    /// Rows read from one table are copies of one dictionary and keep its storage order, which
    /// the encoder relies on when it can; a copy with one name swapped for another, or the same
    /// names in another dictionary, must still encode canonically.
    @Test func statesCopiedFromOneDictionaryEncodeCanonically() throws {
        forEachRandomCase(100) { c in
            var template = [AttributeName: Value]()
            for name in c.rng.pick([["id", "name", "qty", "price", "tags", "updated_at"], ["a", "b"], (0..<16).map { "c\($0)" }]) {
                template[name] = .null
            }
            var encoder = DocumentStateEncoding.Encoder()
            for _ in 0..<30 {
                var values = template
                for i in values.indices { values.values[i] = Gen.mergeValue(&c.rng) }
                if c.rng.chance(0.15), let first = values.keys.first {
                    // Same count, one name differs.
                    values[first] = nil
                    values["other \(c.rng.int(0 ... 2))"] = .int(1)
                }
                if c.rng.chance(0.1) {
                    // Same names, a dictionary of its own (its storage order may differ).
                    values = Dictionary(uniqueKeysWithValues: c.rng.shuffled(Array(values)))
                }
                let stamp = Gen.stamp(&c.rng)
                let state = c.rng.bool() ? DocumentState(image: values, stamp: stamp)
                    : DocumentState(attributes: values.mapValues { AttributeState(value: $0, stamp: stamp) })
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

    @Test func namesAreWrittenInUTF8OrderAndASharedStampOnce() {
        let stamp = Stamp(time: 1, origin: StoreID("s"))
        let state = DocumentState(attributes: ["é": AttributeState(value: nil, stamp: stamp), "b": AttributeState(value: nil, stamp: stamp),
                                               "a": AttributeState(value: nil, stamp: stamp)])
        var encoder = DocumentStateEncoding.Encoder()
        for bytes in [encoder.encode(state), encoder.encode(state)] {
            // Stamp-table layout without tombstone; one stamp: 8 time bytes, counter varint, origin.
            #expect(Array(bytes.prefix(13)) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, UInt8(ascii: "s")])
            // Three attributes, "a" (length 1) first.
            #expect(Array(bytes[13...].prefix(3)) == [3, 1, UInt8(ascii: "a")])
            var at = 14
            for name in ["a", "b", "é"].map({ Array($0.utf8) }) {
                #expect(Int(bytes[at]) == name.count && Array(bytes[(at + 1)...].prefix(name.count)) == name)
                // Name, the "no value" flag, then stamp number 0.
                #expect(Array(bytes[(at + 1 + name.count)...].prefix(2)) == [0, 0])
                at += 1 + name.count + 2
            }
            #expect(at == bytes.count)
        }
    }

    @Test func stampsAreNumberedInOrderOfFirstUseFromTheTombstone() throws {
        let old = Stamp(time: 5, origin: StoreID("a")), new = Stamp(time: 9, counter: 2, origin: StoreID("b"))
        let state = DocumentState(attributes: ["x": AttributeState(value: .int(1), stamp: old), "y": AttributeState(value: nil, stamp: new),
                                               "z": AttributeState(value: .bool(true), stamp: old)],
                                  tombstone: new)
        let bytes = DocumentStateEncoding.encode(state)
        // Tombstone → stamp 0, two stamps: `new` (counter 2), then `old`.
        #expect(Array(bytes.prefix(3)) == [3, 0, 2])
        #expect(Array(bytes[3...].prefix(11)) == [0, 0, 0, 0, 0, 0, 0, 9, 2, 1, UInt8(ascii: "b")])
        #expect(Array(bytes[14...].prefix(11)) == [0, 0, 0, 0, 0, 0, 0, 5, 0, 1, UInt8(ascii: "a")])
        // x → 1, y → 0, z → 1.
        let x: [UInt8] = [1, UInt8(ascii: "x"), 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1]
        #expect(Array(bytes[25...]) == [3] + x + [1, UInt8(ascii: "y"), 0, 0] + [1, UInt8(ascii: "z"), 1, 2, 1])
        #expect(try DocumentStateEncoding.decode(bytes) == state)
    }

    /// States written by the first layout (each stamp inline) still read back the same.
    @Test func statesOfTheFirstLayoutStillDecode() throws {
        forEachRandomCase(50) { c in
            let state = Self.state(&c.rng)
            let bytes = Self.inlineStampEncoding(state)
            try #require(bytes.first.map { $0 & 2 } == 0, "\(c.replay)")
            try #require(try DocumentStateEncoding.decode(bytes) == state, "\(c.replay)")
            // Each stamp held once costs a number per attribute: fewer bytes once two share one.
            let stamps = state.attributes.values.map(\.stamp) + (state.tombstone.map { [$0] } ?? [])
            var seen = Set<Stamp>(), saved = -stamps.count - 1
            for s in stamps where !seen.insert(s).inserted { saved += 8 + 1 + 1 + s.origin.name.utf8.count }
            try #require(DocumentStateEncoding.encode(state).count == bytes.count - saved, "\(c.replay)")
        }
    }

    @Test func damagedStatesAreRefusedNotMisread() throws {
        let state = DocumentState(attributes: ["x": AttributeState(value: .int(1), stamp: Stamp(time: 5, origin: StoreID("a")))])
        let bytes = DocumentStateEncoding.encode(state)
        var badIndex = bytes
        badIndex[badIndex.count - 1] = 1  // x's stamp number, past the one stamp
        for damaged in [[], Array(bytes.dropLast()), bytes + [0], badIndex, [4] + bytes.dropFirst()] {
            #expect(throws: ValueEncoding.DecodingError.self) { try DocumentStateEncoding.decode(damaged) }
        }
    }

    /// The first layout, as version 1 ledgers hold it: flags, tombstone stamp, count, then per
    /// attribute in UTF-8 name order its name, value flag, value and whole stamp.
    static func inlineStampEncoding(_ state: DocumentState) -> [UInt8] {
        var out = [UInt8]()
        func stamp(_ s: Stamp) {
            ValueEncoding.appendUInt64(UInt64(bitPattern: s.time), &out)
            ValueEncoding.appendVarint(UInt64(s.counter), &out)
            ValueEncoding.appendString(s.origin.name, &out)
        }
        out.append(state.tombstone == nil ? 0 : 1)
        if let t = state.tombstone { stamp(t) }
        ValueEncoding.appendVarint(UInt64(state.attributes.count), &out)
        for name in state.attributes.keys.sorted(by: utf8Less) {
            let a = state.attributes[name]!
            ValueEncoding.appendString(name, &out)
            out.append(a.value == nil ? 0 : 1)
            if let v = a.value { ValueEncoding.encode(v, into: &out) }
            stamp(a.stamp)
        }
        return out
    }
}
