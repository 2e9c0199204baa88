import Testing
@testable import DeltaCore

// MARK: - A naive reference model, independent of Merge / AttributeState.beats

/// One document of one namespace.
private struct DocID: Hashable, CustomStringConvertible {
    let namespace: Namespace
    let key: DocumentKey
    init(_ d: Delta) { namespace = d.namespace; key = d.key }
    var description: String { "\(namespace)/\(key)" }
}

private enum Ref {
    /// Rule 2 stamp order, written out: time, then counter, then origin by UTF-8 bytes.
    static func less(_ a: Stamp, _ b: Stamp) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.counter != b.counter { return a.counter < b.counter }
        return a.origin.name.utf8.lexicographicallyPrecedes(b.origin.name.utf8)
    }

    static func sameStamp(_ a: Stamp, _ b: Stamp) -> Bool {
        a.time == b.time && a.counter == b.counter && a.origin.name.utf8.elementsEqual(b.origin.name.utf8)
    }

    /// The (stamp, value) order of rule 2: greater stamp; on a full tie an unset (nil) is lowest and
    /// values compare by the canonical total order.
    static func attributeLess(_ a: (Stamp, Value?), _ b: (Stamp, Value?)) -> Bool {
        if !sameStamp(a.0, b.0) { return less(a.0, b.0) }
        switch (a.1, b.1) {
        case (nil, nil): return false
        case (nil, _): return true
        case (_, nil): return false
        case let (x?, y?): return Value.compare(x, y) < 0
        }
    }

    /// The expected final state of every document: per attribute the maximum (stamp, value) over all
    /// deltas ever delivered, and the maximum tombstone stamp. Independent of delivery order by construction.
    static func finalStates(_ deltas: [Delta]) -> [DocID: DocumentState] {
        var best = [DocID: [AttributeName: (Stamp, Value?)]]()
        var tombs = [DocID: Stamp]()
        for d in deltas {
            let doc = DocID(d)
            switch d.change {
            case .tombstone:
                if let t = tombs[doc], !less(t, d.stamp) { continue }
                tombs[doc] = d.stamp
            case let .set(name, value):
                let cand = (d.stamp, Optional(value))
                if let cur = best[doc]?[name], !attributeLess(cur, cand) { continue }
                best[doc, default: [:]][name] = cand
            case let .unset(name):
                let cand: (Stamp, Value?) = (d.stamp, nil)
                if let cur = best[doc]?[name], !attributeLess(cur, cand) { continue }
                best[doc, default: [:]][name] = cand
            }
        }
        var out = [DocID: DocumentState]()
        for doc in Set(best.keys).union(tombs.keys) {
            var attrs = [AttributeName: AttributeState]()
            for (name, (stamp, value)) in best[doc] ?? [:] { attrs[name] = AttributeState(value: value, stamp: stamp) }
            out[doc] = DocumentState(attributes: attrs, tombstone: tombs[doc])
        }
        return out
    }

    /// Rule 6, written out.
    static func isAlive(_ s: DocumentState) -> Bool {
        guard let tomb = s.tombstone else { return !s.attributes.isEmpty }
        return s.attributes.values.contains { less(tomb, $0.stamp) }
    }

    static func liveValues(_ s: DocumentState) -> [AttributeName: Value] {
        guard isAlive(s) else { return [:] }
        return s.attributes.compactMapValues(\.value)
    }

    /// A byte-exact rendering of a set of states: stricter than `==` (origins and names by bytes,
    /// values by canonical encoding), so "identical every time" means identical bytes in a ledger.
    static func fingerprint(_ states: [DocID: DocumentState]) -> [UInt8] {
        func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
        func text(_ s: String, _ out: inout [UInt8]) { ValueEncoding.appendBytes(s.utf8, &out) }
        func stamp(_ s: Stamp, _ out: inout [UInt8]) {
            ValueEncoding.appendUInt64(UInt64(bitPattern: s.time), &out)
            ValueEncoding.appendUInt64(UInt64(s.counter), &out)
            text(s.origin.name, &out)
        }
        var out = [UInt8]()
        let docs = states.keys.sorted { a, b in
            if !a.namespace.name.utf8.elementsEqual(b.namespace.name.utf8) { return byteOrder(a.namespace.name, b.namespace.name) }
            return byteOrder(a.key.canonical, b.key.canonical)
        }
        for doc in docs {
            let state = states[doc]!
            text(doc.namespace.name, &out)
            text(doc.key.canonical, &out)
            if let t = state.tombstone { out.append(1); stamp(t, &out) } else { out.append(0) }
            for name in state.attributes.keys.sorted(by: byteOrder) {
                let a = state.attributes[name]!
                text(name, &out)
                if let v = a.value { out.append(1); ValueEncoding.encode(v, into: &out) } else { out.append(0) }
                stamp(a.stamp, &out)
            }
        }
        return out
    }
}

// MARK: - Delivery

private struct Scenario {
    let origins: [StoreID]
    let deltas: [Delta]

    static let namespaces: [Namespace] = ["customers", "orders"]
    static let keys: [DocumentKey] = [DocumentKey(.int(1)), DocumentKey(.int(2)), DocumentKey([.string("a|b"), .int(3)])]
    static let attributes: [AttributeName] = ["name", "email", "tier", "note"]

    static func random(_ r: inout SplitMix64, count: ClosedRange<Int> = 5 ... 40) -> Scenario {
        let origins = Array(r.shuffled(Gen.origins).prefix(r.int(2 ... 5)))
        let ns = Array(namespaces.prefix(r.int(1 ... 2)))
        let keys = Array(Self.keys.prefix(r.int(1 ... 3)))
        let attrs = Array(attributes.prefix(r.int(1 ... 4)))
        let n = r.int(count)
        var deltas = [Delta]()
        for _ in 0..<n {
            if let prev = deltas.last, r.chance(0.1) {
                // Same stamp, another change: exercises the full-tie rule.
                deltas.append(Delta(namespace: prev.namespace, key: prev.key, change: Gen.change(&r, attributes: attrs), stamp: prev.stamp))
            } else {
                deltas.append(Gen.delta(&r, namespaces: ns, keys: keys, attributes: attrs, origins: origins))
            }
        }
        return Scenario(origins: origins, deltas: deltas)
    }

    /// One way the deltas may arrive: a random permutation, with duplicates (echoes, redeliveries)
    /// spliced in, and crash-replays that resume from an earlier checkpoint (a prefix delivered again).
    func arrival(_ r: inout SplitMix64) -> [Delta] {
        var seq = r.shuffled(deltas)
        for _ in 0..<r.int(0 ... max(1, deltas.count / 3)) where !deltas.isEmpty {
            seq.insert(r.pick(deltas), at: r.int(0 ... seq.count))
        }
        for _ in 0..<r.int(0 ... 2) where !seq.isEmpty {
            // Delivered up to `crash`, then resumed from `checkpoint` ≤ crash.
            let crash = r.int(0 ... seq.count)
            let checkpoint = r.int(0 ... crash)
            seq = Array(seq[..<crash]) + Array(seq[checkpoint...])
        }
        return seq
    }
}

/// Feeds `sequence` to Merge in random batches (one `merge` call per document per batch), or one
/// `apply` at a time, and checks every Outcome against the states before and after.
@discardableResult
private func deliver(_ sequence: [Delta], into states: inout [DocID: DocumentState], _ r: inout SplitMix64,
                     replay: String) throws -> Int {
    var i = 0
    var outcomes = 0
    while i < sequence.count {
        let n = r.int(1 ... 6)
        let batch = sequence[i..<min(sequence.count, i + n)]
        i += n
        if r.chance(0.2) {
            for d in batch {
                let before = states[DocID(d)] ?? .unknown
                let changed = Merge.apply(d.change, stamp: d.stamp, to: &states[DocID(d), default: .unknown])
                try #require(changed == (states[DocID(d)]! != before), "\(replay): apply(\(d)) returned \(changed) on \(before)")
            }
            continue
        }
        var byDoc = [DocID: [Delta]]()
        var order = [DocID]()
        for d in batch {
            if byDoc[DocID(d)] == nil { order.append(DocID(d)) }
            byDoc[DocID(d), default: []].append(d)
        }
        for doc in order {
            let before = states[doc] ?? .unknown
            var after = before
            let outcome = Merge.merge(byDoc[doc]!, into: &after)
            states[doc] = after
            try checkOutcome(outcome, before: before, after: after, deltas: byDoc[doc]!, replay: replay)
            outcomes += 1
        }
    }
    return outcomes
}

/// The Outcome of a merge, recomputed from the states: which attributes changed (each once, in
/// first-change order), liveness before and after, and the effect the planner must carry out.
private func checkOutcome(_ o: Merge.Outcome, before: DocumentState, after: DocumentState, deltas: [Delta], replay: String) throws {
    // Replay the batch on the reference order to find the order in which attributes first changed.
    var expectedChanged = [AttributeName]()
    var running = before.attributes.mapValues { ($0.stamp, $0.value) }
    for d in deltas {
        guard let name = d.change.attribute else { continue }
        let candidate: (Stamp, Value?) = switch d.change {
        case let .set(_, v): (d.stamp, v)
        default: (d.stamp, nil)
        }
        if let current = running[name], !Ref.attributeLess(current, candidate) { continue }
        running[name] = candidate
        if !expectedChanged.contains(name) { expectedChanged.append(name) }
    }
    for name in expectedChanged {
        try #require(before.attributes[name] != after.attributes[name], "\(replay): \(name) changed but its state is the same")
    }
    var ctx: String { "\(replay)\n deltas: \(deltas)\n before: \(before)\n after: \(after)" } // built only on failure
    try #require(o.changedAttributes == expectedChanged, "changedAttributes \(o.changedAttributes), expected \(expectedChanged)\(ctx)")
    try #require(o.tombstoneChanged == (before.tombstone != after.tombstone), "tombstoneChanged\(ctx)")
    let (was, now) = (Ref.isAlive(before), Ref.isAlive(after))
    try #require(o.wasAlive == was && o.isAlive == now, "alive \(o.wasAlive)→\(o.isAlive), expected \(was)→\(now)\(ctx)")
    let expected: Merge.Effect = switch (was, now) {
    case (false, true): .create
    case (true, false): .delete
    case (true, true): expectedChanged.isEmpty ? .none : .update(expectedChanged)
    case (false, false): .none
    }
    try #require(o.effect == expected, "effect \(o.effect), expected \(expected)\(ctx)")
    try #require(o.isNoop == (expectedChanged.isEmpty && was == now), "isNoop\(ctx)")
}

private func states(of deltas: [Delta], _ r: inout SplitMix64, replay: String) throws -> [DocID: DocumentState] {
    var s = [DocID: DocumentState]()
    try deliver(deltas, into: &s, &r, replay: replay)
    return s
}

// MARK: - Properties

@Suite struct MergePropertyTests {
    @Test func everyArrivalOrderConvergesToTheSameState() throws {
        forEachRandomCase(1000) { c in
            let scenario = Scenario.random(&c.rng)
            let first = try states(of: scenario.arrival(&c.rng), &c.rng, replay: c.replay)
            let fp = Ref.fingerprint(first)
            for attempt in 0..<4 {
                let seq = scenario.arrival(&c.rng)
                let other = try states(of: seq, &c.rng, replay: c.replay)
                try #require(other == first, "\(c.replay): arrival \(attempt + 1) diverged\n deltas: \(scenario.deltas)")
                try #require(Ref.fingerprint(other) == fp, "\(c.replay): arrival \(attempt + 1) differs in bytes\n\(first)\n---\n\(other)")
            }
        }
    }

    @Test func theGreatestStampAndValueWinsPerAttribute() throws {
        forEachRandomCase(1000) { c in
            let scenario = Scenario.random(&c.rng)
            let got = try states(of: scenario.arrival(&c.rng), &c.rng, replay: c.replay)
            let expected = Ref.finalStates(scenario.deltas)
            try #require(Set(got.keys) == Set(expected.keys), "\(c.replay): documents differ")
            for (doc, want) in expected {
                let have = got[doc]!
                for (name, w) in want.attributes {
                    let h = try #require(have.attributes[name], "\(c.replay): \(doc).\(name) missing")
                    try #require(Ref.sameStamp(h.stamp, w.stamp) && h.value == w.value,
                                 "\(c.replay): \(doc).\(name) = \(String(describing: h.value))@\(h.stamp), expected \(String(describing: w.value))@\(w.stamp)\n deltas: \(scenario.deltas)")
                }
                try #require(have.attributes.count == want.attributes.count, "\(c.replay): \(doc) has extra attributes")
                try #require(have.tombstone == want.tombstone, "\(c.replay): \(doc) tombstone \(String(describing: have.tombstone)), expected \(String(describing: want.tombstone))")
                try #require(have.isAlive == Ref.isAlive(want), "\(c.replay): \(doc) isAlive")
                try #require(have.liveValues == Ref.liveValues(want), "\(c.replay): \(doc) liveValues")
                let all = want.attributes.values.map(\.stamp) + (want.tombstone.map { [$0] } ?? [])
                let latest = all.max(by: Ref.less)
                try #require(have.latestStamp == latest, "\(c.replay): \(doc) latestStamp")
                try #require(!have.isEmpty, "\(c.replay)")
            }
            try #require(Ref.fingerprint(got) == Ref.fingerprint(expected), "\(c.replay): byte-level state differs from the reference")
        }
    }

    @Test func mergingTheSameDeltasAgainChangesNothing() throws {
        forEachRandomCase(1000) { c in
            let scenario = Scenario.random(&c.rng)
            var s = try states(of: scenario.arrival(&c.rng), &c.rng, replay: c.replay)
            let snapshot = s
            // The whole batch again, per document, in another order; then random subsets one by one.
            let byDoc = Dictionary(grouping: c.rng.shuffled(scenario.deltas), by: DocID.init)
            for (doc, deltas) in byDoc {
                let o = Merge.merge(deltas, into: &s[doc, default: .unknown])
                try #require(o.isNoop && o.changedAttributes.isEmpty && !o.tombstoneChanged && o.effect == .none,
                             "\(c.replay): replaying \(doc) changed \(o.changedAttributes), tombstone \(o.tombstoneChanged), effect \(o.effect)")
            }
            for d in scenario.deltas where c.rng.chance(0.5) {
                try #require(!Merge.apply(d.change, stamp: d.stamp, to: &s[DocID(d), default: .unknown]), "\(c.replay): apply(\(d)) reported a change on replay")
            }
            try #require(s == snapshot && Ref.fingerprint(s) == Ref.fingerprint(snapshot), "\(c.replay): state changed on replay")
        }
    }

    @Test func concurrentChangesToDifferentAttributesBothSurvive() throws {
        forEachRandomCase(1000) { c in
            // Rule 1: stores A and B change different attributes of one document at overlapping times.
            let (a, b) = (StoreID("A-\(c.rng.int(0 ... 9))"), StoreID("B-\(c.rng.int(0 ... 9))"))
            let key = DocumentKey(.int(Int64(c.rng.int(1 ... 100))))
            var base = [Delta]()
            let t0 = c.rng.int64(1_000 ... 2_000)
            for name in ["x", "y"] {
                base.append(Delta(namespace: "ns", key: key, change: .set(name, .int(0)), stamp: Stamp(time: t0, origin: "seed")))
            }
            let va = Gen.mergeValue(&c.rng), vb = Gen.mergeValue(&c.rng)
            let ta = Stamp(time: t0 + c.rng.int64(1 ... 5), counter: UInt32(c.rng.int(0 ... 3)), origin: a)
            let tb = Stamp(time: t0 + c.rng.int64(1 ... 5), counter: UInt32(c.rng.int(0 ... 3)), origin: b)
            let fromA = Delta(namespace: "ns", key: key, change: .set("x", va), stamp: ta)
            let fromB = Delta(namespace: "ns", key: key, change: .set("y", vb), stamp: tb)
            for order in [[fromA, fromB], [fromB, fromA]] {
                var s = DocumentState.unknown
                _ = Merge.merge(c.rng.shuffled(base), into: &s)
                let o = Merge.merge(order, into: &s)
                try #require(s.liveValues == ["x": va, "y": vb], "\(c.replay): \(s.liveValues)")
                try #require(Set(o.changedAttributes) == ["x", "y"] && o.changedAttributes.count == 2, "\(c.replay): \(o.changedAttributes)")
                try #require(o.effect == .update(order.map { $0.change.attribute! }), "\(c.replay): \(o.effect)")
            }
        }
    }

    @Test func fullTiesAreBrokenByTheGreaterValue() throws {
        forEachRandomCase(3000) { c in
            let stamp = Gen.stamp(&c.rng)
            let x = Gen.value(&c.rng, depth: 2)
            let y = c.rng.chance(0.3) ? Gen.variant(of: x, &c.rng).0 : (c.rng.chance(0.5) ? Gen.value(ofCase: Int(x.typeRank), &c.rng, depth: 2) : Gen.value(&c.rng, depth: 2))
            let cmp = Value.compare(x, y)
            let winner = cmp >= 0 ? x : y
            for (first, second) in [(x, y), (y, x)] {
                var s = DocumentState.unknown
                Merge.apply(.set("v", first), stamp: stamp, to: &s)
                let changed = Merge.apply(.set("v", second), stamp: stamp, to: &s)
                let got = try #require(s.attributes["v"]?.value, "\(c.replay)")
                try #require(Value.compare(got, winner) == 0, "\(c.replay): tie between \(x) and \(y) kept \(got), expected \(winner)")
                // The second apply changes the state exactly when its value is strictly greater.
                try #require(changed == (Value.compare(second, first) > 0), "\(c.replay): apply reported \(changed) for \(second) after \(first)")
            }
            // An unset loses to any value at an equal stamp, in either order; two unsets are one unset.
            for seq in [[Delta.Change.unset("v"), .set("v", x)], [.set("v", x), .unset("v")]] {
                var s = DocumentState.unknown
                for ch in seq { Merge.apply(ch, stamp: stamp, to: &s) }
                try #require(s.attributes["v"]?.value == x && s.liveValues["v"] == x, "\(c.replay): unset beat \(x) at an equal stamp")
            }
            var s = DocumentState.unknown
            Merge.apply(.unset("v"), stamp: stamp, to: &s)
            try #require(!Merge.apply(.unset("v"), stamp: stamp, to: &s), "\(c.replay): a repeated unset changed the state")
            // A greater stamp beats any value, and an unset with a greater stamp removes the value.
            let later = Stamp(time: stamp.time, counter: stamp.counter + 1, origin: stamp.origin)
            Merge.apply(.set("v", winner), stamp: stamp, to: &s)
            try #require(Merge.apply(.unset("v"), stamp: later, to: &s) && s.liveValues["v"] == nil, "\(c.replay): later unset lost")
        }
    }

    @Test func greaterStampWinsRegardlessOfValue() {
        var s = DocumentState.unknown
        let low = Stamp(time: 10, counter: 5, origin: "zzz"), high = Stamp(time: 11, counter: 0, origin: "a")
        Merge.apply(.set("a", .object(["huge": .string("zzzz")])), stamp: high, to: &s)
        #expect(!Merge.apply(.set("a", .object(["zzzz": .null])), stamp: low, to: &s))
        #expect(s.liveValues["a"] == .object(["huge": .string("zzzz")]))
        // Counter, then origin.
        var t = DocumentState.unknown
        Merge.apply(.set("a", .int(1)), stamp: Stamp(time: 10, counter: 1, origin: "a"), to: &t)
        #expect(!Merge.apply(.set("a", .int(2)), stamp: Stamp(time: 10, counter: 0, origin: "z"), to: &t))
        #expect(Merge.apply(.set("a", .int(0)), stamp: Stamp(time: 10, counter: 1, origin: "b"), to: &t))
        #expect(t.liveValues["a"] == .int(0))
    }

    // MARK: Rule 6

    @Test func deleteVersusUpdateAndAutoRestore() throws {
        func st(_ t: Int64, _ o: StoreID = "pg") -> Stamp { Stamp(time: t, origin: o) }
        func d(_ ch: Delta.Change, _ t: Int64, _ o: StoreID = "pg") -> Delta { Delta(namespace: "ns", key: DocumentKey(.int(1)), change: ch, stamp: st(t, o)) }
        var s = DocumentState.unknown
        #expect(!s.isAlive && s.isEmpty && s.liveValues.isEmpty && s.latestStamp == nil)

        var o = Merge.merge([d(.set("a", .int(1)), 10), d(.set("b", .int(2)), 11)], into: &s)
        #expect(o.effect == .create && !o.wasAlive && o.isAlive && o.changedAttributes == ["a", "b"])

        o = Merge.merge([d(.tombstone, 20, "mongo")], into: &s)
        #expect(o.effect == .delete && o.tombstoneChanged && o.changedAttributes.isEmpty && !o.isNoop)
        #expect(!s.isAlive && s.liveValues.isEmpty)
        #expect(s.attributes.count == 2, "attributes are kept under the tombstone")

        // An update older than the tombstone: recorded, but the document stays deleted.
        o = Merge.merge([d(.set("a", .int(3)), 15)], into: &s)
        #expect(o.effect == .none && !o.isAlive && o.changedAttributes == ["a"])
        #expect(s.liveValues.isEmpty)

        // An update newer than the tombstone restores the document with ALL its latest attributes.
        o = Merge.merge([d(.set("c", .int(4)), 30, "couch")], into: &s)
        #expect(o.effect == .create && !o.wasAlive && o.isAlive)
        #expect(s.liveValues == ["a": .int(3), "b": .int(2), "c": .int(4)])

        o = Merge.merge([d(.set("a", .int(5)), 31)], into: &s)
        #expect(o.effect == .update(["a"]))

        // A tombstone older than the newest attribute: the document stays alive; nothing for targets.
        o = Merge.merge([d(.tombstone, 25)], into: &s)
        #expect(o.tombstoneChanged && o.effect == .none && o.isNoop && s.isAlive)
        #expect(s.liveValues == ["a": .int(5), "b": .int(2), "c": .int(4)])

        o = Merge.merge([d(.unset("c"), 40)], into: &s)
        #expect(o.effect == .update(["c"]) && s.liveValues == ["a": .int(5), "b": .int(2)])

        // Tombstone and an older update in one batch, either order: deleted.
        for batch in [[d(.tombstone, 50), d(.set("b", .int(9)), 45)], [d(.set("b", .int(9)), 45), d(.tombstone, 50)]] {
            var t = s
            o = Merge.merge(batch, into: &t)
            #expect(o.effect == .delete && !t.isAlive && t.liveValues.isEmpty)
            #expect(t.latestStamp == st(50))
        }
        // Tombstone and a newer update in one batch, either order: still alive, update only.
        for batch in [[d(.tombstone, 50), d(.set("b", .int(9)), 55)], [d(.set("b", .int(9)), 55), d(.tombstone, 50)]] {
            var t = s
            o = Merge.merge(batch, into: &t)
            #expect(o.effect == .update(["b"]) && t.isAlive && t.liveValues["b"] == .int(9))
        }

        // A document first seen as a tombstone: not alive, nothing to do.
        var u = DocumentState.unknown
        o = Merge.merge([d(.tombstone, 5)], into: &u)
        #expect(o.effect == .none && !u.isAlive && !u.isEmpty)
        // An attribute with a stamp equal to the tombstone's does not revive it (newer means strictly).
        o = Merge.merge([d(.set("a", .int(1)), 5)], into: &u)
        #expect(o.effect == .none && !u.isAlive)
        o = Merge.merge([d(.set("a", .int(1)), 6)], into: &u)
        #expect(o.effect == .create && u.liveValues == ["a": .int(1)])
    }

    @Test func tombstonesNewerThanEveryAttributeKillTheDocument() throws {
        forEachRandomCase(800) { c in
            let scenario = Scenario.random(&c.rng)
            var s = try states(of: scenario.arrival(&c.rng), &c.rng, replay: c.replay)
            // Delete every document after everything seen: none stays alive.
            for (doc, state) in s {
                let latest = try #require(state.latestStamp, "\(c.replay): \(doc) has no latest stamp")
                let tomb = Stamp(time: latest.time + c.rng.int64(0 ... 1), counter: latest.counter + 1, origin: c.rng.pick(scenario.origins))
                let o = Merge.merge([Delta(namespace: doc.namespace, key: doc.key, change: .tombstone, stamp: tomb)], into: &s[doc]!)
                try #require(!s[doc]!.isAlive && s[doc]!.liveValues.isEmpty, "\(c.replay): \(doc) alive after newest tombstone")
                try #require(o.effect == (Ref.isAlive(state) ? .delete : .none), "\(c.replay): effect \(o.effect)")
            }
            // One newer attribute brings each back with all its latest values.
            for (doc, state) in s {
                let tomb = state.tombstone!
                let name = c.rng.pick(Scenario.attributes)
                let v = Gen.mergeValue(&c.rng)
                let o = Merge.merge([Delta(namespace: doc.namespace, key: doc.key, change: .set(name, v), stamp: Stamp(time: tomb.time + 1, origin: "late"))], into: &s[doc]!)
                var expected = state.attributes.compactMapValues(\.value)
                expected[name] = v
                try #require(o.effect == .create, "\(c.replay): \(doc) effect \(o.effect)")
                try #require(s[doc]!.liveValues == expected, "\(c.replay): \(doc) restored \(s[doc]!.liveValues), expected \(expected)")
            }
        }
    }

    // MARK: Rules 4 and 5, hybrid clock

    @Test func causalityBeatsClocks() throws {
        let minute: Int64 = 60_000_000
        let T: Int64 = 1_709_294_400_000_000
        let key = DocumentKey(.string("cust-1"))
        var clockA = HybridClock(origin: "A"), clockB = HybridClock(origin: "B")

        // Store B (correct clock) changes the email at T.
        let fromB = clockB.stamp(sourceTime: T, now: T)
        let bDelta = Delta(namespace: "customers", key: key, change: .set("email", .string("b@example.com")), stamp: fromB.stamp)

        // Negative control: A's clock is 10 minutes behind; without observing the bridge's write,
        // A's later edit gets an older stamp and loses. This is the failure rule 4 prevents.
        var naive = clockA
        let naiveEdit = naive.stamp(sourceTime: T - 10 * minute, now: T + minute)
        #expect(naiveEdit.stamp < fromB.stamp)
        var control = DocumentState.unknown
        _ = Merge.merge([bDelta], into: &control)
        let lost = Merge.merge([Delta(namespace: "customers", key: key, change: .set("email", .string("a@example.com")), stamp: naiveEdit.stamp)], into: &control)
        #expect(lost.isNoop && control.liveValues["email"] == .string("b@example.com"))

        // With rule 4: the bridge writes B's value into A, sees the echo in A's log and observes its stamp.
        clockA.observe(fromB.stamp)
        let edit = clockA.stamp(sourceTime: T - 10 * minute, now: T + minute)
        #expect(fromB.stamp < edit.stamp)
        #expect(edit.stamp.origin == "A" && !edit.clamped)
        let aDelta = Delta(namespace: "customers", key: key, change: .set("email", .string("a@example.com")), stamp: edit.stamp)
        for order in [[bDelta, aDelta], [aDelta, bDelta]] {
            var s = DocumentState.unknown
            _ = Merge.merge(order, into: &s)
            #expect(s.liveValues["email"] == .string("a@example.com"), "A's edit after seeing B's value wins in any order")
        }
        var s = DocumentState.unknown
        _ = Merge.merge([bDelta], into: &s)
        #expect(Merge.merge([aDelta], into: &s).effect == .update(["email"]))

        // Observing stamps from the past changes nothing; observing a later counter raises it.
        var c = HybridClock(origin: "A")
        _ = c.stamp(sourceTime: 100, now: 100)
        c.observe(Stamp(time: 50, counter: 9, origin: "Z"))
        #expect(c.stamp(sourceTime: 60, now: 100).stamp == Stamp(time: 100, counter: 1, origin: "A"))
        c.observe(Stamp(time: 100, counter: 7, origin: "Z"))
        let next = c.stamp(sourceTime: 100, now: 100).stamp
        #expect(next == Stamp(time: 100, counter: 8, origin: "A") && Stamp(time: 100, counter: 7, origin: "Z") < next)
        // Same (time, counter) with a greater origin: the next stamp still exceeds it.
        c.observe(Stamp(time: 100, counter: 8, origin: "ZZZ"))
        #expect(Stamp(time: 100, counter: 8, origin: "ZZZ") < c.stamp(sourceTime: nil, now: 90).stamp)
    }

    @Test func causalityHoldsForRandomClocksAndEchoes() throws {
        forEachRandomCase(2000) { c in
            let behind = c.rng.int64(0 ... 3_600_000_000) // A's clock runs up to an hour behind
            let T = c.rng.int64(1_000_000_000_000 ... 2_000_000_000_000_000)
            var clockA = HybridClock(origin: c.rng.pick(["A", "a", "zzz"]))
            var clockB = HybridClock(origin: c.rng.pick(["B", "b", "zzzz", "0"]))
            // A few earlier changes on both stores.
            for _ in 0..<c.rng.int(0 ... 5) {
                _ = clockA.stamp(sourceTime: T - behind - c.rng.int64(0 ... 10_000_000), now: T)
                _ = clockB.stamp(sourceTime: T - c.rng.int64(0 ... 10_000_000), now: T)
            }
            let fromB = clockB.stamp(sourceTime: T + c.rng.int64(0 ... 1_000), now: T).stamp
            clockA.observe(fromB) // the echo of the bridge's write into A
            let edit = clockA.stamp(sourceTime: T - behind + c.rng.int64(0 ... 1_000), now: T).stamp
            try #require(fromB < edit, "\(c.replay): edit \(edit) does not beat observed \(fromB)")
            var s = DocumentState.unknown
            let key = DocumentKey(.int(1))
            _ = Merge.merge(c.rng.shuffled([
                Delta(namespace: "n", key: key, change: .set("f", .string("from B")), stamp: fromB),
                Delta(namespace: "n", key: key, change: c.rng.bool() ? .set("f", .string("from A")) : .unset("f"), stamp: edit),
            ]), into: &s)
            try #require(s.attributes["f"]?.stamp == edit, "\(c.replay): \(s)")
        }
    }

    @Test func clockSkewIsClampedToTheBridgeClock() {
        let now: Int64 = 1_709_294_400_000_000
        let skew = HybridClock.defaultMaxClockSkew
        #expect(skew == 5_000_000)

        var clock = HybridClock(origin: "future")
        let year: Int64 = 365 * 86_400_000_000
        let far = clock.stamp(sourceTime: now + year, now: now)
        #expect(far.clamped && far.stamp.time == now && clock.clampedCount == 1)

        // Exactly at the limit: kept. One microsecond past it: clamped.
        var c2 = HybridClock(origin: "x")
        let atLimit = c2.stamp(sourceTime: now + skew, now: now)
        #expect(!atLimit.clamped && atLimit.stamp == Stamp(time: now + skew, counter: 0, origin: "x") && c2.clampedCount == 0)
        let past = c2.stamp(sourceTime: now + 1 + skew + 1, now: now + 1)
        #expect(past.clamped && c2.clampedCount == 1)
        #expect(atLimit.stamp < past.stamp, "clamping never breaks monotonicity")
        let within = c2.stamp(sourceTime: now + 2 * skew, now: now + skew)
        #expect(!within.clamped && within.stamp.time == now + 2 * skew && c2.clampedCount == 1)

        // A store whose clock runs a year ahead does not win forever: a later real edit beats it.
        var clockB = HybridClock(origin: "b")
        let later = clockB.stamp(sourceTime: now + 1_000_000, now: now + 1_000_000)
        var s = DocumentState.unknown
        let key = DocumentKey(.int(7))
        _ = Merge.merge([Delta(namespace: "n", key: key, change: .set("v", .string("from the future")), stamp: far.stamp),
                     Delta(namespace: "n", key: key, change: .set("v", .string("real")), stamp: later.stamp)], into: &s)
        #expect(s.liveValues["v"] == .string("real"))

        // A custom skew of zero clamps anything ahead of now; nil source time uses now and is never clamped.
        var strict = HybridClock(origin: "s", maxClockSkew: 0)
        #expect(strict.stamp(sourceTime: now + 1, now: now).clamped)
        #expect(!strict.stamp(sourceTime: nil, now: now + 10).clamped)
        #expect(strict.clampedCount == 1)
    }

    @Test func hybridClockStampsStrictlyIncreaseAndFollowTheModel() throws {
        forEachRandomCase(1500) { c in
            let origin: StoreID = c.rng.pick(["pg", "maria", "m"])
            let skew: Int64 = c.rng.pick([0, 1_000, 5_000_000])
            var clock = HybridClock(origin: origin, maxClockSkew: skew)
            var now = c.rng.int64(0 ... 1_000_000_000_000)
            var lastSource: Int64 = now
            // The model: the clock's high-water (time, counter) over issued and observed stamps.
            var hw: (time: Int64, counter: UInt32)? = nil
            var previous: Stamp? = nil
            var observedSincePrevious = false
            var clampedCount = 0
            var issued = 0
            for step in 0..<c.rng.int(1 ... 60) {
                now += c.rng.pick([0, 0, 1, 3, 1_000, 7_000_000] as [Int64]) - (c.rng.chance(0.1) ? 2 : 0)
                if c.rng.chance(0.1) {
                    // The echo of a bridge write: any origin, possibly ahead, possibly a huge counter.
                    let base = hw?.time ?? now
                    let o = Stamp(time: base + c.rng.int64(-3 ... 3), counter: c.rng.pick([0, 1, 5, UInt32.max - 1, UInt32.max]), origin: c.rng.pick(["a", "zz", origin]))
                    clock.observe(o)
                    if hw == nil || (o.time, o.counter) > (hw!.time, hw!.counter) { hw = (o.time, o.counter) }
                    let after = clock.stamp(sourceTime: c.rng.chance(0.5) ? nil : now - 5, now: now)
                    if after.clamped { clampedCount += 1 }
                    issued += 1
                    try #require(o < after.stamp, "\(c.replay): step \(step): stamp \(after.stamp) not after observed \(o)")
                    if let p = previous { try #require(p < after.stamp, "\(c.replay): step \(step): not increasing") }
                    hw = (after.stamp.time, after.stamp.counter)
                    previous = after.stamp
                    observedSincePrevious = false
                    continue
                }
                let source: Int64? = switch c.rng.int(0 ... 6) {
                case 0: nil
                case 1: lastSource // repeat
                case 2: lastSource - c.rng.int64(1 ... 10_000_000) // backwards
                case 3: now + skew + c.rng.int64(1 ... 100_000_000_000) // too far ahead: clamped
                case 4: now + c.rng.int64(0 ... skew) // ahead within skew
                default: lastSource + c.rng.int64(0 ... 5)
                }
                if let s = source { lastSource = s }
                let out = clock.stamp(sourceTime: source, now: now)
                issued += 1
                var t = source ?? now
                let shouldClamp = t > now + skew
                if shouldClamp { t = now; clampedCount += 1 }
                try #require(out.clamped == shouldClamp, "\(c.replay): step \(step): clamped \(out.clamped) for source \(String(describing: source)), now \(now)")
                try #require(clock.clampedCount == clampedCount, "\(c.replay): clampedCount \(clock.clampedCount), expected \(clampedCount)")
                try #require(out.stamp.origin == origin, "\(c.replay)")
                let expected: (Int64, UInt32) = if let h = hw, t <= h.time {
                    h.counter == .max ? (h.time + 1, 0) : (h.time, h.counter + 1)
                } else {
                    (t, 0) // time advances: the counter restarts at 0
                }
                try #require(out.stamp.time == expected.0 && out.stamp.counter == expected.1,
                             "\(c.replay): step \(step): got \(out.stamp.time)#\(out.stamp.counter), expected \(expected.0)#\(expected.1) (source \(String(describing: source)), now \(now), hw \(String(describing: hw)))")
                if let p = previous {
                    try #require(p < out.stamp, "\(c.replay): step \(step): \(out.stamp) not after \(p)")
                    if out.stamp.time > p.time && !observedSincePrevious && p.counter != .max {
                        try #require(out.stamp.counter == 0, "\(c.replay): counter did not restart when time advanced")
                    }
                }
                // Never more than the skew ahead of now, unless an earlier stamp already was.
                try #require(out.stamp.time <= max(now + skew, (previous?.time ?? .min) + 1), "\(c.replay): stamp ahead of the bridge clock")
                hw = (out.stamp.time, out.stamp.counter)
                previous = out.stamp
                observedSincePrevious = false
            }
            try #require(issued > 0, "\(c.replay)")
        }
    }

    @Test func hybridClockCounterOverflowAdvancesTime() {
        var clock = HybridClock(origin: "pg", lastTime: 100, lastCounter: .max)
        #expect(clock.stamp(sourceTime: 50, now: 100).stamp == Stamp(time: 101, counter: 0, origin: "pg"))
        #expect(clock.stamp(sourceTime: 50, now: 100).stamp == Stamp(time: 101, counter: 1, origin: "pg"))
        #expect(clock.stamp(sourceTime: 102, now: 100).stamp == Stamp(time: 102, counter: 0, origin: "pg"))
        var fresh = HybridClock(origin: "pg")
        #expect(fresh.lastTime == .min)
        #expect(fresh.stamp(sourceTime: .min, now: 0).stamp == Stamp(time: .min, counter: 1, origin: "pg"))
        #expect(fresh.stamp(sourceTime: nil, now: 0).stamp == Stamp(time: 0, counter: 0, origin: "pg"))
        // Backwards and repeated source times.
        var c = HybridClock(origin: "o")
        let times: [Int64] = [10, 10, 5, 11, 11, 3, 12]
        let got = times.map { c.stamp(sourceTime: $0, now: 1_000).stamp }
        #expect(got.map(\.time) == [10, 10, 10, 11, 11, 11, 12])
        #expect(got.map(\.counter) == [0, 1, 2, 0, 1, 2, 0])
    }
}
