import DeltaConnector
import DeltaCore
import DeltaLedger
@testable import DeltaPipeline
import Testing

@Suite("Planner")
struct PlannerTests {
    let mapping = CollectionMapping(namespace: "people", stores: [
        "a": StoreMapping(spec: CollectionSpec(name: "people", keyAttributes: ["id"])),
        "b": StoreMapping(spec: CollectionSpec(name: "persons", keyAttributes: ["pid"]), renames: ["pid": "id", "full_name": "name"]),
    ])
    let ref = DocumentRef("people", DocumentKey(.int(1)))

    func flow(twoWay: Bool) -> FlowConfig {
        FlowConfig(name: "f", direction: twoWay ? .twoWay(["a", "b"]) : .oneWay(from: "a", to: ["b"]), collections: [mapping], location: "")
    }

    func state(_ values: [String: Value], time: Int64, origin: StoreID = "a") -> DocumentState {
        DocumentState(attributes: values.mapValues { AttributeState(value: $0, stamp: Stamp(time: time, origin: origin)) })
    }

    func plan(_ flow: FlowConfig, before: DocumentState, after: DocumentState, observed: [String: Value]?, deleted: Bool = false,
              writes: [StoreID: [String: AttributeState]] = [:]) -> [PlannedPatch] {
        Planner(flow: flow, mapping: mapping).patches(
            for: .init(ref: ref, before: before, after: after, observed: observed, observedIsFull: true, observedDeleted: deleted),
            from: "a") { writes[$0] ?? [:] }
    }

    @Test("one-way: a new document is a replace in the target's names, without a guard")
    func create() {
        let after = state(["id": .int(1), "name": .string("Ada")], time: 10)
        let patches = plan(flow(twoWay: false), before: DocumentState(), after: after, observed: ["id": .int(1), "name": .string("Ada")])
        #expect(patches.count == 1)
        #expect(patches[0].target == "b")
        #expect(patches[0].patch == DocumentPatch(collection: "persons", key: ["pid": .int(1)], action: .replace(["pid": .int(1), "full_name": .string("Ada")])))
        #expect(Set(patches[0].writes.map(\.attribute)) == ["id", "name"])
    }

    @Test("created and deleted within one batch: targets are told to delete, in case a run killed before its ledger commit wrote the row")
    func createdAndDeletedInOneBatch() {
        var after = state(["id": .int(1), "name": .string("Ada")], time: 10)
        after.tombstone = Stamp(time: 20, origin: "a")
        func patches(_ twoWay: Bool, upserted: Bool) -> [PlannedPatch] {
            Planner(flow: flow(twoWay: twoWay), mapping: mapping).patches(
                for: .init(ref: ref, before: DocumentState(), after: after, observed: nil, observedIsFull: false, observedDeleted: true,
                           upserted: upserted),
                from: "a") { _ in [:] }
        }
        let oneWay = patches(false, upserted: true)
        #expect(oneWay.map(\.patch) == [DocumentPatch(collection: "persons", key: ["pid": .int(1)], action: .delete)])
        // Two-way, only a row that still holds what the creation wrote is deleted.
        let twoWay = patches(true, upserted: true)
        #expect(twoWay.map(\.target) == ["b"])
        #expect(twoWay[0].patch.action == .delete)
        #expect(twoWay[0].patch.expected == ["pid": .int(1), "full_name": .string("Ada")])
        // A delete of a document the batch never saw present tells nobody anything.
        #expect(patches(false, upserted: false).isEmpty)
    }

    @Test("two-way: an update carries only the changed attributes, guarded by the previous winner")
    func guardedUpdate() {
        let before = state(["id": .int(1), "name": .string("Ada"), "email": .string("a@x")], time: 10)
        var after = before
        after.attributes["name"] = AttributeState(value: .string("Ada L."), stamp: Stamp(time: 20, origin: "a"))
        let patches = plan(flow(twoWay: true), before: before, after: after, observed: ["id": .int(1), "name": .string("Ada L."), "email": .string("a@x")])
        #expect(patches.map(\.target) == ["b"])
        #expect(patches[0].patch.action == .upsert(set: ["full_name": .string("Ada L.")], unset: []))
        #expect(patches[0].patch.expected == ["full_name": .string("Ada"), "pid": .int(1)])
    }

    @Test("two-way: the guard uses what the bridge wrote to the target when the target altered it")
    func guardFromWriteRecord() {
        let before = state(["id": .int(1), "price": .double(0.1)], time: 10)
        var after = before
        after.attributes["price"] = AttributeState(value: .double(0.2), stamp: Stamp(time: 20, origin: "a"))
        let written = ["price": AttributeState(value: .double(0.10000000149), stamp: Stamp(time: 10, origin: "a"))]
        let patches = plan(flow(twoWay: true), before: before, after: after, observed: ["id": .int(1), "price": .double(0.2)], writes: ["b": written])
        #expect(patches[0].patch.expected == ["price": .double(0.10000000149), "pid": .int(1)])
    }

    @Test("two-way: a source whose own change lost is told the winner, guarded by what it reported")
    func writeBack() {
        let winner = state(["id": .int(1), "name": .string("Bea")], time: 30, origin: "b")
        let patches = plan(flow(twoWay: true), before: winner, after: winner, observed: ["id": .int(1), "name": .string("Ann")])
        #expect(patches.map(\.target) == ["a"])
        #expect(patches[0].patch.action == .upsert(set: ["name": .string("Bea")], unset: []))
        #expect(patches[0].patch.expected == ["name": .string("Ann"), "id": .int(1)])
    }

    @Test("two-way: no write-back when the bridge already wrote the winner to the source (the report is an earlier echo)")
    func noWriteBackOverOwnWrite() {
        let winner = state(["id": .int(1), "name": .string("Bea")], time: 30, origin: "b")
        let toldWinner = ["name": AttributeState(value: .string("Bea"), stamp: Stamp(time: 30, origin: "b"))]
        #expect(plan(flow(twoWay: true), before: winner, after: winner, observed: ["id": .int(1), "name": .string("Ann")],
                     writes: ["a": toldWinner]).isEmpty)
        // A write record of another version (an older write) does not stop it.
        let toldOlder = ["name": AttributeState(value: .string("Bea"), stamp: Stamp(time: 20, origin: "b"))]
        let patches = plan(flow(twoWay: true), before: winner, after: winner, observed: ["id": .int(1), "name": .string("Ann")],
                           writes: ["a": toldOlder])
        #expect(patches.map(\.target) == ["a"])
        #expect(patches.first?.patch.expected == ["name": .string("Ann"), "id": .int(1)])
    }

    @Test("two-way: a delete that lost to a newer edit re-creates the row at its source")
    func deleteLost() {
        let alive = state(["id": .int(1), "name": .string("Bea")], time: 30, origin: "b")
        let patches = plan(flow(twoWay: true), before: alive, after: alive, observed: nil, deleted: true)
        #expect(patches.map(\.target) == ["a"])
        #expect(patches[0].patch.action == .replace(["id": .int(1), "name": .string("Bea")]))
        #expect(patches[0].patch.expected == ["id": Value?.none])
    }

    @Test("a delete reaches the targets with the tombstone recorded as written")
    func delete() {
        let before = state(["id": .int(1), "name": .string("Ada")], time: 10)
        var after = before
        after.tombstone = Stamp(time: 20, origin: "a")
        let patches = plan(flow(twoWay: false), before: before, after: after, observed: nil, deleted: true)
        #expect(patches.map(\.patch.action) == [.delete])
        #expect(patches[0].writes.map(\.attribute) == [""])
    }

    @Test("nothing changed, nothing planned")
    func noop() {
        let s = state(["id": .int(1)], time: 10)
        #expect(plan(flow(twoWay: true), before: s, after: s, observed: ["id": .int(1)]).isEmpty)
    }
}
