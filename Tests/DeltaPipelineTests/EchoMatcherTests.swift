import DeltaConnector
import DeltaCore
@testable import DeltaPipeline
import Testing

/// Rule 7 for stores that cannot mark the bridge's writes: an unmarked change is an echo only
/// when it reports what the bridge last wrote there and that write is still the ledger's winner.
@Suite("Echo matcher")
struct EchoMatcherTests {
    let mapping = CollectionMapping(namespace: "people",
                                    stores: ["m": StoreMapping(spec: CollectionSpec(name: "people", keyAttributes: ["_id"]),
                                                               renames: ["_id": "id"])])
    var matcher: EchoMatcher { EchoMatcher(normalizer: Normalizer(mapping: mapping, storeMapping: mapping.mapping(for: "m")!)) }
    let written = Stamp(time: 100, origin: "pg")

    func upsert(_ values: [String: Value], image: RowChange.Image = .full) -> RowChange {
        RowChange(collection: "people", operation: .upsert, attributes: ["_id": .string("a")].merging(values) { $1 }, image: image, matchEchoes: true)
    }

    func state(_ values: [String: (Value, Stamp)]) -> DocumentState {
        DocumentState(attributes: values.mapValues { AttributeState(value: $0.0, stamp: $0.1) })
    }

    @Test("the bridge's own write coming back is an echo")
    func ownWrite() {
        let ledger = state(["id": (.string("a"), written), "name": (.string("Ada"), written)])
        let writes = ["name": AttributeState(value: .string("Ada"), stamp: written)]
        #expect(matcher.isEcho(upsert(["name": .string("Ada")]), state: ledger, written: writes))
        #expect(matcher.isEcho(upsert(["name": .string("Ada")], image: .partial), state: ledger, written: writes))
    }

    @Test("a different value, or nothing the bridge wrote, is a real change")
    func realChanges() {
        let ledger = state(["id": (.string("a"), written), "name": (.string("Ada"), written)])
        let writes = ["name": AttributeState(value: .string("Ada"), stamp: written)]
        #expect(!matcher.isEcho(upsert(["name": .string("Bob")]), state: ledger, written: writes))
        #expect(!matcher.isEcho(upsert(["name": .string("Ada")]), state: ledger, written: nil))
        #expect(!matcher.isEcho(upsert(["name": .string("Ada"), "extra": .int(1)]), state: ledger, written: writes))
    }

    @Test("restoring an earlier bridge write after another change counts as a real edit")
    func restoredValueAfterAnotherChange() {
        // The bridge wrote "Ada"; since then the ledger's winner moved (a later edit elsewhere).
        let later = Stamp(time: 200, origin: "pg")
        let ledger = state(["id": (.string("a"), written), "name": (.string("Ann"), later)])
        let writes = ["name": AttributeState(value: .string("Ada"), stamp: written)]
        #expect(!matcher.isEcho(upsert(["name": .string("Ada")]), state: ledger, written: writes))
    }

    @Test("a delete is an echo only of the bridge's own delete that still stands")
    func deletes() {
        let tomb = Stamp(time: 300, origin: "pg")
        let delete = RowChange(collection: "people", operation: .delete, attributes: ["_id": .string("a")], matchEchoes: true)
        var dead = state(["id": (.string("a"), written)])
        dead.tombstone = tomb
        #expect(matcher.isEcho(delete, state: dead, written: ["": AttributeState(value: nil, stamp: tomb)]))
        #expect(!matcher.isEcho(delete, state: dead, written: ["": AttributeState(value: nil, stamp: written)]))
        let alive = state(["id": (.string("a"), written), "name": (.string("Ada"), written)])
        #expect(!matcher.isEcho(delete, state: alive, written: ["": AttributeState(value: nil, stamp: tomb)]))
    }
}
