import DeltaConnector
import DeltaCore
import DeltaLedger

/// A patch for one target store with the write records to keep if the store applies it.
struct PlannedPatch: Sendable {
    var target: StoreID
    var ref: DocumentRef
    var patch: DocumentPatch
    var writes: [WriteRecord]
}

/// Decides what each store of a flow must be told after a batch changed the ledger's state of a
/// document, and — in two-way flows — with which guard (rule 8).
///
/// Invariants: patches carry the store's own attribute names and only admitted attributes; a
/// two-way patch always carries the guard of what the ledger believes the target holds; a
/// source whose own change lost is told the winner (write-back), so stores converge (rule 10).
final class Planner: Sendable {
    let flow: FlowConfig
    let mapping: CollectionMapping

    /// Per store of the mapping: its key attributes, each null, and their storage positions.
    private let keyTemplates: [(store: StoreID, template: [String: Value], positions: [Dictionary<String, Value>.Index])]

    /// A store the flow writes and how it holds the collection, looked up once for every
    /// document (a class, so that handing it on copies no mapping).
    final class Target: Sendable {
        let store: StoreID
        let mapping: StoreMapping

        init(store: StoreID, mapping: StoreMapping) {
            self.store = store
            self.mapping = mapping
        }
    }

    /// Per source store of the flow: the other stores it writes that hold the collection.
    private let targetsBySource: [(source: StoreID, targets: [Target])]

    init(flow: FlowConfig, mapping: CollectionMapping) {
        self.flow = flow
        self.mapping = mapping
        targetsBySource = flow.direction.sources.map { source in
            (source, flow.direction.targets(of: source).compactMap { target in
                guard target != source, let storeMapping = mapping.mapping(for: target) else { return nil }
                return Target(store: target, mapping: storeMapping)
            })
        }
        keyTemplates = mapping.stores.compactMap { store, storeMapping in
            var template = [String: Value]()
            for name in storeMapping.spec.keyAttributes { template[name] = .null }
            guard template.count == storeMapping.spec.keyAttributes.count else { return nil }
            return (store, template, storeMapping.spec.keyAttributes.map { template.index(forKey: $0)! })
        }
    }

    /// What one batch did to one document, as the planner needs it.
    struct DocumentChange {
        var ref: DocumentRef
        var before: DocumentState
        var after: DocumentState
        /// The source's last report of the document (logical names), nil for a delete or an echo.
        var observed: [AttributeName: Value]?
        var observedIsFull: Bool
        var observedDeleted: Bool
        /// The source reported the document present in this batch (before deleting it, when it
        /// ends deleted).
        var upserted = false
        /// When the batch created the document from one image and changed nothing else: that
        /// image, whose values are exactly `after`'s (the patch then shares it instead of
        /// building the same dictionary again).
        var createdFrom: [AttributeName: Value]? = nil
    }

    /// The patches for every target of the flow (and a write-back to `source` in two-way flows).
    /// Write records are built only for targets in `recording` (stores some flow reads).
    func patches(for change: DocumentChange, from source: StoreID, recording: Set<StoreID>? = nil,
                 writesOf: (StoreID) -> [AttributeName: AttributeState]) -> [PlannedPatch] {
        var out = [PlannedPatch]()
        appendPatches(for: change, from: source, recording: recording, writesOf: writesOf, to: &out)
        return out
    }

    /// ``patches(for:from:recording:writesOf:)`` appending to `out` (the engine's batch list).
    func appendPatches(for change: DocumentChange, from source: StoreID, recording: Set<StoreID>? = nil,
                       writesOf: (StoreID) -> [AttributeName: AttributeState], to out: inout [PlannedPatch]) {
        let before = change.before
        let after = change.after
        let wasAlive = before.isAlive
        let isAlive = after.isAlive
        // The admitted attributes whose latest state the batch changed, by name, with that state.
        var changed = [(name: AttributeName, state: AttributeState)]()
        if wasAlive && isAlive {
            let previous = before.attributes
            for (name, state) in after.attributes where previous[name] != state && mapping.admits(name) { changed.append((name, state)) }
            changed.sort { $0.name < $1.name }
        }

        var targets: [Target] = []
        for entry in targetsBySource where entry.source == source {
            targets = entry.targets
            break
        }
        for t in targets {
            let target = t.store
            let storeMapping = t.mapping
            let guardOn = flow.direction.isTwoWay
            let record = recording?.contains(target) ?? true
            let known = guardOn ? writesOf(target) : [:]
            func believed(_ name: AttributeName) -> Value? {
                guard wasAlive, let attribute = before.attributes[name] else { return nil }
                if let w = known[name], w.stamp == attribute.stamp { return w.value }
                return attribute.value
            }
            switch (wasAlive, isAlive) {
            case (false, true):
                let expected: [AttributeName: Value?]? = guardOn ? Dictionary(uniqueKeysWithValues: storeMapping.spec.keyAttributes.map { ($0, nil) }) : nil
                out.append(plan(target, storeMapping, change.ref, .replace(content(after, storeMapping, createdFrom: change.createdFrom)), expected: expected,
                                writes: record ? admitted(after.attributes) : [:]))
            case (true, true):
                guard !changed.isEmpty else { continue }
                var set = [String: Value]()
                var unset = [String]()
                var expected = [String: Value?]()
                var records = [AttributeName: AttributeState]()
                if !guardOn {
                    // One-way: send every mapped value, so a target that refused or lost the
                    // document earlier receives it whole again.
                    set = content(after, storeMapping)
                }
                for (name, a) in changed {
                    let storeName = storeMapping.storeName(name)
                    if let v = a.value {
                        // One-way, `set` already holds every admitted value.
                        if guardOn { set[storeName] = v }
                    } else {
                        unset.append(storeName)
                    }
                    if guardOn { expected[storeName] = believed(name) }
                    if record { records[name] = a }
                }
                // The row must still exist: a target that deleted it has that delete in flight.
                if guardOn { for (k, v) in keyValues(target, storeMapping, change.ref) { expected[k] = v } }
                out.append(plan(target, storeMapping, change.ref, .upsert(set: set, unset: unset.sorted()), expected: guardOn ? expected : nil, writes: records))
            case (true, false):
                var expected = [String: Value?]()
                for (name, a) in before.attributes where a.value != nil && mapping.admits(name) {
                    expected[storeMapping.storeName(name)] = believed(name)
                }
                for (k, v) in keyValues(target, storeMapping, change.ref) { expected[k] = v }
                var p = plan(target, storeMapping, change.ref, .delete, expected: guardOn ? expected : nil, writes: [:])
                if record, let tomb = after.tombstone {
                    p.writes.append(WriteRecord(store: target, namespace: change.ref.namespace, key: change.ref.key, attribute: "", value: nil, stamp: tomb))
                }
                out.append(p)
            case (false, false):
                // Created and deleted within this batch: nothing to tell a target that never saw
                // it — but one that applied the creation in a run that stopped before the ledger
                // committed it (kill -9) still holds the row. Deleting a missing row does nothing;
                // two-way, only a row that still holds the created content is deleted.
                guard change.upserted, after.tombstone != nil, !after.attributes.isEmpty else { continue }
                var expected: [String: Value?]?
                if guardOn {
                    var created = [String: Value?]()
                    for (name, a) in after.attributes where a.value != nil && mapping.admits(name) { created[storeMapping.storeName(name)] = a.value }
                    for (k, v) in keyValues(target, storeMapping, change.ref) { created[k] = v }
                    expected = created
                }
                out.append(plan(target, storeMapping, change.ref, .delete, expected: expected, writes: [:]))
            }
        }
        if flow.direction.isTwoWay, let p = writeBack(change, to: source, written: writesOf(source)) { out.append(p) }
    }

    /// When the source reported a document that differs from the ledger's winner, the source must
    /// be told the winner, guarded by what it reported — unless the bridge has already written
    /// that very version to it (`written`, its applied write records): the report is then an
    /// earlier echo, and the store holds the winner or an edit of its own still on its way.
    private func writeBack(_ change: DocumentChange, to source: StoreID, written: [AttributeName: AttributeState]) -> PlannedPatch? {
        guard let storeMapping = mapping.mapping(for: source) else { return nil }
        let after = change.after
        if change.observedDeleted {
            guard after.isAlive else { return nil }
            let expected = Dictionary(uniqueKeysWithValues: storeMapping.spec.keyAttributes.map { ($0, Value?.none) })
            return plan(source, storeMapping, change.ref, .replace(content(after, storeMapping)), expected: expected,
                        writes: admitted(after.attributes))
        }
        guard let observed = change.observed else { return nil }
        if !after.isAlive {
            var expected = Dictionary(uniqueKeysWithValues: observed.map { (storeMapping.storeName($0.key), Value?.some($0.value)) })
            for (k, v) in keyValues(source, storeMapping, change.ref) { expected[k] = v }
            var p = plan(source, storeMapping, change.ref, .delete, expected: expected, writes: [:])
            if let tomb = after.tombstone {
                p.writes.append(WriteRecord(store: source, namespace: change.ref.namespace, key: change.ref.key, attribute: "", value: nil, stamp: tomb))
            }
            return p
        }
        var set = [String: Value]()
        var unset = [String]()
        var expected = [String: Value?]()
        var records = [AttributeName: AttributeState]()
        var names = Set(observed.keys)
        if change.observedIsFull {
            for (name, a) in after.attributes where a.value != nil && mapping.admits(name) { names.insert(name) }
        }
        for name in names.sorted() {
            let winner = after.attributes[name]
            let held = observed[name]
            guard winner?.value != held, let winner else { continue }
            if let w = written[name], w.stamp == winner.stamp, w.value == winner.value { continue }
            // A store that reports null for an attribute the ledger has removed already holds
            // nothing: a column cannot be absent (without this, removing a CouchDB or MongoDB
            // member would be written back to a SQL store's echo forever).
            if winner.value == nil && held == .null { continue }
            let storeName = storeMapping.storeName(name)
            if let v = winner.value { set[storeName] = v } else { unset.append(storeName) }
            expected[storeName] = held
            records[name] = winner
        }
        guard !set.isEmpty || !unset.isEmpty else { return nil }
        for (k, v) in keyValues(source, storeMapping, change.ref) { expected[k] = v }
        return plan(source, storeMapping, change.ref, .upsert(set: set, unset: unset), expected: expected, writes: records)
    }

    /// The document's key in the store's key attributes.
    private func keyValues(_ store: StoreID, _ storeMapping: StoreMapping, _ ref: DocumentRef) -> [String: Value] {
        let count = ref.key.componentCount
        if let t = keyTemplates.first(where: { $0.store == store }), t.positions.count == count {
            // A copy of the store's template, filled by position (no key name hashed per patch).
            var key = t.template
            for (i, position) in t.positions.enumerated() { key.values[position] = ref.key.component(i) }
            return key
        }
        var key = [String: Value](minimumCapacity: storeMapping.spec.keyAttributes.count)
        for (i, name) in storeMapping.spec.keyAttributes.enumerated() where i < count {
            key[name] = ref.key.component(i)
        }
        return key
    }

    /// The live, admitted values of an alive document in the store's names.
    private func content(_ state: DocumentState, _ storeMapping: StoreMapping, createdFrom: [AttributeName: Value]? = nil) -> [String: Value] {
        if mapping.admitsEverything, storeMapping.keepsNames, let createdFrom { return createdFrom }
        if mapping.admitsEverything, storeMapping.keepsNames, let image = state.image { return image.values }
        if mapping.admitsEverything, storeMapping.keepsNames, !state.attributes.values.contains(where: { $0.value == nil }) {
            // Same names, nothing left out: the state's own layout, without hashing again.
            return state.attributes.mapValues { $0.value! }
        }
        var out = [String: Value](minimumCapacity: state.attributes.count)
        for (name, a) in state.attributes {
            guard let value = a.value, mapping.admits(name) else { continue }
            out[storeMapping.storeName(name)] = value
        }
        return out
    }

    private func admitted(_ attributes: [AttributeName: AttributeState]) -> [AttributeName: AttributeState] {
        mapping.admitsEverything ? attributes : attributes.filter { mapping.admits($0.key) }
    }

    private func plan(_ target: StoreID, _ storeMapping: StoreMapping, _ ref: DocumentRef, _ action: DocumentPatch.Action,
                      expected: [String: Value?]?, writes: [AttributeName: AttributeState]) -> PlannedPatch {
        let key = keyValues(target, storeMapping, ref)
        let patch = DocumentPatch(collection: storeMapping.spec.name, key: key, action: action, expected: expected)
        let records = writes.map { name, a in
            WriteRecord(store: target, namespace: ref.namespace, key: ref.key, attribute: name, value: a.value, stamp: a.stamp)
        }
        return PlannedPatch(target: target, ref: ref, patch: patch, writes: records)
    }
}
