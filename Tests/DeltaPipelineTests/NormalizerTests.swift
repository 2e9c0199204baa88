import DeltaConnector
import DeltaCore
@testable import DeltaPipeline
import Testing

@Suite("Normalizer")
struct NormalizerTests {
    let mapping = CollectionMapping(namespace: "people", exclude: ["secret"],
                                    stores: ["s": StoreMapping(spec: CollectionSpec(name: "persons", keyAttributes: ["id"]),
                                                               renames: ["full_name": "name"], timeAttribute: "updated_at")])
    var normalizer: Normalizer { Normalizer(mapping: mapping, storeMapping: mapping.mapping(for: "s")!) }
    let stamp = Stamp(time: 100, origin: "s")
    let key = DocumentKey(.int(1))

    func state(_ values: [String: Value], time: Int64 = 50) -> DocumentState {
        DocumentState(attributes: values.mapValues { AttributeState(value: $0, stamp: Stamp(time: time, origin: "t")) })
    }

    func changes(_ deltas: [Delta]) -> Set<Delta.Change> { Set(deltas.map(\.change)) }

    @Test("a full image with one changed column yields one delta, renamed and filtered")
    func oneChangedColumn() {
        let row = RowChange(collection: "persons", operation: .upsert,
                            attributes: ["id": .int(1), "full_name": .string("Ada L."), "email": .string("a@x"), "secret": .string("pw")])
        let before = state(["id": .int(1), "name": .string("Ada"), "email": .string("a@x")])
        let ds = normalizer.deltas(for: row, namespace: "people", key: key, state: before, stamp: stamp)
        #expect(changes(ds) == [.set("name", .string("Ada L."))])
        #expect(ds.allSatisfy { $0.stamp == stamp && $0.namespace == "people" && $0.key == key })
    }

    @Test("an identical image yields nothing; a missing column in a full image is unset")
    func identicalAndMissing() {
        let before = state(["id": .int(1), "name": .string("Ada"), "email": .string("a@x")])
        let same = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1), "full_name": .string("Ada"), "email": .string("a@x")])
        #expect(normalizer.deltas(for: same, namespace: "people", key: key, state: before, stamp: stamp).isEmpty)
        let fewer = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1), "full_name": .string("Ada")])
        #expect(changes(normalizer.deltas(for: fewer, namespace: "people", key: key, state: before, stamp: stamp)) == [.unset("email")])
    }

    @Test("unchanged-but-not-sent attributes (TOAST) are never changes")
    func toast() {
        let before = state(["id": .int(1), "name": .string("Ada"), "email": .string("a@x")])
        let row = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1), "full_name": .string("Ada")], unchanged: ["email"])
        #expect(normalizer.deltas(for: row, namespace: "people", key: key, state: before, stamp: stamp).isEmpty)
    }

    @Test("partial images set what they carry and unset what they remove")
    func partial() {
        let before = state(["id": .int(1), "name": .string("Ada"), "email": .string("a@x")])
        let row = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1), "full_name": .string("Bea")], image: .partial, removed: ["email", "never"])
        #expect(changes(normalizer.deltas(for: row, namespace: "people", key: key, state: before, stamp: stamp)) == [.set("name", .string("Bea")), .unset("email")])
    }

    @Test("a delete is a tombstone, once; an image of a deleted document restores every attribute")
    func deletes() {
        let alive = state(["id": .int(1), "name": .string("Ada")])
        let del = RowChange(collection: "persons", operation: .delete, attributes: ["id": .int(1)])
        #expect(changes(normalizer.deltas(for: del, namespace: "people", key: key, state: alive, stamp: stamp)) == [.tombstone])
        var dead = alive
        dead.tombstone = Stamp(time: 60, origin: "t")
        #expect(normalizer.deltas(for: del, namespace: "people", key: key, state: dead, stamp: stamp).isEmpty)
        let again = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1), "full_name": .string("Ada")])
        #expect(changes(normalizer.deltas(for: again, namespace: "people", key: key, state: dead, stamp: stamp)) == [.set("id", .int(1)), .set("name", .string("Ada"))])
    }

    @Test("keys come from the store's key attributes; a change without one has no key")
    func keys() {
        #expect(normalizer.key(of: RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(7)])) == DocumentKey(.int(7)))
        #expect(normalizer.key(of: RowChange(collection: "persons", operation: .upsert, attributes: ["name": .int(7)])) == nil)
        #expect(normalizer.key(of: RowChange(collection: "persons", operation: .upsert, attributes: ["id": .null])) == nil)
    }

    @Test("the time attribute wins over the commit time; numbers are read by magnitude")
    func time() {
        let iso = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1), "updated_at": .string("2026-01-01T00:00:00Z")], commitTime: 5)
        #expect(normalizer.sourceTime(of: iso) == 1_767_225_600_000_000)
        let none = RowChange(collection: "persons", operation: .upsert, attributes: ["id": .int(1)], commitTime: 5)
        #expect(normalizer.sourceTime(of: none) == 5)
        #expect(Normalizer.micros(from: .int(1_767_225_600)) == 1_767_225_600_000_000)
        #expect(Normalizer.micros(from: .int(1_767_225_600_000)) == 1_767_225_600_000_000)
        #expect(Normalizer.micros(from: .int(1_767_225_600_000_000)) == 1_767_225_600_000_000)
    }
}
