import Testing
@testable import DeltaCore

/// A state made from one image (``DocumentState/init(image:stamp:)``) keeps the image until an
/// attribute changes: in every way it must be the same state as the one with its attributes
/// built, for comparisons, rule 6, the merge rules and the ledger's bytes.
@Suite struct DocumentStateImageTests {
    static let shapes: [[String]] = [["id", "name", "qty", "price", "tags", "updated_at"], ["id"], [],
                                     ["é", "e", "Z", "a", "ab", "aa", ""], (0..<20).map { "column \($0)" }]

    /// A random image state, with a tombstone set afterwards in some cases (older, equal or newer).
    static func imageState(_ rng: inout SplitMix64) -> DocumentState {
        var values = [AttributeName: Value]()
        for name in rng.pick(shapes) { values[name] = Gen.mergeValue(&rng) }
        let stamp = Gen.stamp(&rng)
        var state = DocumentState(image: values, stamp: stamp)
        if rng.chance(0.4) { state.tombstone = rng.chance(0.3) ? stamp : Gen.stamp(&rng) }
        return state
    }

    /// The same state with its attributes built one by one.
    static func built(_ state: DocumentState) -> DocumentState {
        var attributes = [AttributeName: AttributeState]()
        if let image = state.image {
            for (name, value) in image.values { attributes[name] = AttributeState(value: value, stamp: image.stamp) }
        }
        return DocumentState(attributes: attributes, tombstone: state.tombstone)
    }

    @Test func anImageStateIsTheStateOfItsAttributes() throws {
        forEachRandomCase(300) { c in
            let state = Self.imageState(&c.rng)
            try #require(state.image != nil, "\(c.replay)")
            let built = Self.built(state)
            try #require(built.image == nil, "\(c.replay)")
            try #require(state == built && built == state, "\(c.replay)")
            try #require(state.hashValue == built.hashValue, "\(c.replay)")
            try #require(state.attributes == built.attributes, "\(c.replay)")
            try #require(state.attributeCount == built.attributes.count, "\(c.replay)")
            try #require(state.isEmpty == built.isEmpty, "\(c.replay)")
            try #require(state.isAlive == built.isAlive, "\(c.replay) alive")
            try #require(state.liveValues == built.liveValues, "\(c.replay)")
            try #require(state.latestStamp == built.latestStamp, "\(c.replay)")
            // Two image states differ when one value, the stamp or the tombstone differs.
            var other = state
            other.tombstone = Gen.stamp(&c.rng, times: 2_000 ... 2_000)
            try #require(other != state, "\(c.replay)")
        }
    }

    @Test func anImageStateEncodesToTheBytesOfItsAttributes() throws {
        forEachRandomCase(200) { c in
            // One encoder for both forms, interleaved: its reused name order must not leak
            // from one form into the other.
            var encoder = DocumentStateEncoding.Encoder()
            for _ in 0..<10 {
                let state = Self.imageState(&c.rng)
                let built = Self.built(state)
                let expected = DocumentStateEncoding.encode(built)
                let first = c.rng.bool()
                let a = first ? encoder.encode(state) : encoder.encode(built)
                let b = first ? encoder.encode(built) : encoder.encode(state)
                try #require(a == expected && b == expected, "\(c.replay)")
                try #require(DocumentStateEncoding.encode(state) == expected, "\(c.replay)")
                try #require(try DocumentStateEncoding.decode(expected) == state, "\(c.replay)")
            }
        }
    }

    @Test func changingAnImageStateBuildsItsAttributesAndLeavesCopiesAlone() throws {
        forEachRandomCase(300) { c in
            let state = Self.imageState(&c.rng)
            let names = Array(state.attributes.keys) + ["new"]
            let deltas = (0..<c.rng.int(1 ... 6)).map { _ in
                Gen.delta(&c.rng, namespaces: ["n"], keys: [DocumentKey(.string("k"))], attributes: names, origins: Gen.origins)
            }
            var changed = state
            var reference = Self.built(state)
            let outcome = Merge.merge(deltas, into: &changed)
            let expected = Merge.merge(deltas, into: &reference)
            try #require(changed == reference, "\(c.replay)")
            try #require(outcome.changedAttributes == expected.changedAttributes, "\(c.replay)")
            try #require(outcome.tombstoneChanged == expected.tombstoneChanged, "\(c.replay)")
            // The copy taken before the merge still holds the image.
            try #require(state == Self.built(state) && state.image != nil, "\(c.replay)")
            if !outcome.changedAttributes.isEmpty { try #require(changed.image == nil, "\(c.replay)") }

            var assigned = state
            assigned.attributes = ["only": AttributeState(value: .int(1), stamp: Gen.stamp(&c.rng))]
            try #require(assigned.image == nil && assigned.attributeCount == 1, "\(c.replay)")
            try #require(state.attributeCount == Self.built(state).attributes.count, "\(c.replay)")
        }
    }
}
