import DeltaConnector
import DeltaCore
import DeltaLedger
import Logging

/// Processes one batch of one source of a flow: normalise against the ledger, merge, plan,
/// apply to the targets, then commit deltas, write records and the checkpoint together.
///
/// Invariant: the checkpoint is committed only after every target applied (or refused) its
/// patches and in the same ledger transaction as the batch's deltas (DESIGN §1).
struct BatchProcessor {
    let pipeline: String
    let flow: FlowConfig
    let source: StoreID
    let ledger: any Ledger
    let ledgerWorker: BlockingWorker
    let sinks: [StoreID: any SinkConnector]
    /// Stores that some flow reads: only writes to them are recorded (for echoes and guards).
    let sourceStores: Set<StoreID>
    let logger: Logger

    /// What a processed batch did.
    struct Result: Sendable {
        var deltas = 0
        var patchesApplied = 0
        var guardsFailed = 0
        var rejected = 0
        var clamped = 0
    }

    /// Processes `changes`; `checkpoint` (already carrying the new position) is completed with the
    /// clock state and counters and committed with the batch.
    func process(_ changes: [RowChange], clock: inout HybridClock, checkpoint: Checkpoint?, now: Int64) async throws -> Result {
        var result = Result()
        // 1. Route changes to their collection mapping and document.
        struct Routed {
            let change: RowChange
            let mappingIndex: Int
            let ref: DocumentRef
        }
        var routed = [Routed]()
        routed.reserveCapacity(changes.count)
        var deadLetters = [DeadLetter]()
        var keysByNamespace = [Namespace: [DocumentKey]]()
        let mappings = flow.collections
        var mappingByCollection = [String: Int]()
        for (i, m) in mappings.enumerated() {
            if let sm = m.mapping(for: source) { mappingByCollection[sm.spec.name] = i }
        }
        for change in changes {
            guard let index = mappingByCollection[change.collection] else { continue }
            let m = mappings[index]
            let normalizer = Normalizer(mapping: m, storeMapping: m.mapping(for: source)!)
            guard let key = normalizer.key(of: change) else {
                deadLetters.append(DeadLetter(pipeline: pipeline, flow: flow.name, store: source.name, namespace: m.namespace.name, key: "",
                                              reason: "change in \(change.collection) has no value for key attribute(s) \(normalizer.storeMapping.spec.keyAttributes.joined(separator: ", ")) — fix the key in the pipeline's mapping",
                                              payload: String(describing: change.attributes), createdAt: now))
                continue
            }
            routed.append(Routed(change: change, mappingIndex: index, ref: DocumentRef(m.namespace, key)))
            keysByNamespace[m.namespace, default: []].append(key)
        }

        // 2. Read the ledger's state of every document in the batch.
        let ledger = self.ledger
        let source = self.source
        let twoWay = flow.direction.isTwoWay
        let targets = flow.direction.targets(of: source).filter { $0 != source }
        let toLoad = keysByNamespace
        let refs = Array(Set(routed.map(\.ref)))
        // Unmarked changes are matched against write records only where the bridge writes at all.
        let matchEchoes = sinks[source] != nil
        let echoRefs = Array(Set(routed.filter { $0.change.isEcho || ($0.change.matchEchoes && matchEchoes) }.map(\.ref)))
        typealias Loaded = ([DocumentRef: DocumentState], [StoreID: [DocumentRef: [AttributeName: AttributeState]]], [DocumentRef: [AttributeName: Value]])
        let (loaded, writesLoaded, imagesLoaded) = try await ledgerWorker.run { () throws -> Loaded in
            var states = [DocumentRef: DocumentState]()
            var images = [DocumentRef: [AttributeName: Value]]()
            for (ns, keys) in toLoad {
                for (k, s) in try ledger.states(ns, keys) { states[DocumentRef(ns, k)] = s }
                if twoWay {
                    for (k, i) in try ledger.images(store: source, ns, keys) { images[DocumentRef(ns, k)] = i }
                }
            }
            var writes = [StoreID: [DocumentRef: [AttributeName: AttributeState]]]()
            // Guards (rule 8) need what the bridge wrote to every target; echoes (rule 4) need
            // what it wrote to the source, for the documents that came back as echoes only.
            func load(_ store: StoreID, _ refs: [DocumentRef]) throws {
                var perDoc = writes[store] ?? [:]
                for ref in refs where perDoc[ref] == nil {
                    let w = try ledger.writes(store: store, ref.namespace, ref.key)
                    if !w.isEmpty { perDoc[ref] = w }
                }
                writes[store] = perDoc
            }
            if twoWay {
                for store in targets + [source] { try load(store, refs) }
            } else if !echoRefs.isEmpty {
                try load(source, echoRefs)
            }
            return (states, writes, images)
        }

        // 3. Normalise and merge in source order.
        var working = loaded
        // The store's own view of each document, in its log order (two-way flows only).
        var shadows = [DocumentRef: [AttributeName: Value]?]()
        for (ref, image) in imagesLoaded { shadows[ref] = .some(image) }
        var shadowed = Set<DocumentRef>()
        var order = [DocumentRef]()
        var seen = Set<DocumentRef>()
        var observed = [DocumentRef: (image: [AttributeName: Value]?, full: Bool, deleted: Bool)]()
        var mappingOf = [DocumentRef: Int]()
        var deltas = [Delta]()
        var maxCommitTime: Int64?
        /// Records the store's latest report of a document (echo or not): the write-back compares
        /// the ledger's winner with what the store holds after its last event in this batch.
        func observe(_ ref: DocumentRef, _ change: RowChange, _ normalizer: Normalizer, mappingIndex: Int) {
            if seen.insert(ref).inserted { order.append(ref) }
            mappingOf[ref] = mappingIndex
            if change.operation == .delete {
                observed[ref] = (nil, false, true)
            } else if !twoWay {
                // Only write-backs (two-way) compare the store's report with the winner.
                observed[ref] = (nil, change.image == .full, false)
            } else {
                var image = normalizer.logicalImage(of: change)
                if change.image == .partial, var previous = observed[ref]?.image {
                    for (k, v) in image { previous[k] = v }
                    image = previous
                }
                observed[ref] = (image, change.image == .full, false)
            }
        }
        for r in routed {
            let m = mappings[r.mappingIndex]
            let normalizer = Normalizer(mapping: m, storeMapping: m.mapping(for: source)!)
            if let t = r.change.commitTime { maxCommitTime = max(maxCommitTime ?? t, t) }
            let baseline = shadows[r.ref] ?? nil
            if twoWay {
                shadows[r.ref] = .some(normalizer.image(after: r.change, previous: baseline))
                shadowed.insert(r.ref)
            }
            let isEcho = r.change.isEcho
                || (r.change.matchEchoes && matchEchoes && EchoMatcher(normalizer: normalizer).isEcho(r.change, state: working[r.ref], written: writesLoaded[source]?[r.ref]))
            if isEcho {
                // Rule 7: the bridge's own write coming back. No delta; rule 4: later changes of
                // this store are stamped after what the bridge wrote here.
                let written = writesLoaded[source]?[r.ref] ?? [:]
                if let newest = written.values.map(\.stamp).max() { clock.observe(newest) }
                // What the store now holds, for the write-back check below.
                if twoWay { observe(r.ref, r.change, normalizer, mappingIndex: r.mappingIndex) }
                continue
            }
            let issued = clock.stamp(sourceTime: normalizer.sourceTime(of: r.change), now: now)
            if issued.clamped {
                result.clamped += 1
                logger.warning("clock skew: \(source) reported a change time more than \(DurationText.format(clock.maxClockSkew)) ahead of this machine; stamped with the bridge clock instead",
                               metadata: ["flow": "\(flow.name)", "document": "\(r.ref)"])
            }
            var state = working[r.ref] ?? DocumentState()
            let ds = normalizer.deltas(for: r.change, namespace: r.ref.namespace, key: r.ref.key, state: state, baseline: baseline, stamp: issued.stamp)
            for d in ds { Merge.apply(d.change, stamp: d.stamp, to: &state) }
            working[r.ref] = state
            deltas += ds
            observe(r.ref, r.change, normalizer, mappingIndex: r.mappingIndex)
        }
        result.deltas = deltas.count

        // 4. Plan the patches of every target (and write-backs to the source in two-way flows).
        var planned = [PlannedPatch]()
        for ref in order {
            let m = mappings[mappingOf[ref]!]
            let planner = Planner(flow: flow, mapping: m)
            let o = observed[ref]
            let change = Planner.DocumentChange(ref: ref, before: loaded[ref] ?? DocumentState(), after: working[ref] ?? DocumentState(),
                                                observed: o?.image, observedIsFull: o?.full ?? false, observedDeleted: o?.deleted ?? false)
            planned += planner.patches(for: change, from: source, recording: sourceStores) { store in writesLoaded[store]?[ref] ?? [:] }
        }

        // 5. Apply per target, targets in parallel.
        var byTarget = [StoreID: [PlannedPatch]]()
        for p in planned { byTarget[p.target, default: []].append(p) }
        var writes = [WriteRecord]()
        let sinks = self.sinks
        let outcomes = try await withThrowingTaskGroup(of: (StoreID, [PlannedPatch], [PatchResult]).self) { group in
            for (target, patches) in byTarget {
                guard let sink = sinks[target] else { continue }
                group.addTask { (target, patches, try await sink.apply(patches.map(\.patch))) }
            }
            var all = [(StoreID, [PlannedPatch], [PatchResult])]()
            for try await r in group { all.append(r) }
            return all
        }
        for (target, patches, results) in outcomes {
            for (p, r) in zip(patches, results) {
                switch r {
                case .applied:
                    result.patchesApplied += 1
                    if sourceStores.contains(target) { writes += p.writes }
                case .guardFailed:
                    result.guardsFailed += 1
                    logger.debug("guard failed: \(target) has a newer local edit of \(p.ref); it will arrive through its own stream")
                case let .rejected(reason):
                    result.rejected += 1
                    logger.error("dead letter: \(target) refused \(p.ref): \(reason)", metadata: ["flow": "\(flow.name)"])
                    deadLetters.append(DeadLetter(pipeline: pipeline, flow: flow.name, store: target.name, namespace: p.ref.namespace.name,
                                                  key: p.ref.key.canonical, reason: reason, payload: String(describing: p.patch.action), createdAt: now))
                }
            }
        }

        // 6. Commit deltas, write records, dead letters and the checkpoint in one transaction.
        let images = shadowed.map { StoreImage(store: source, namespace: $0.namespace, key: $0.key, image: shadows[$0] ?? nil) }
        var batch = LedgerBatch(deltas: deltas, writes: writes, checkpoints: [], deadLetters: deadLetters, images: images)
        // The engine's gate makes this batch the ledger's only writer since `loaded` was read, so
        // `working` is exactly what the ledger's own merge would produce.
        batch.mergedStates = working
        if var c = checkpoint {
            c.clockTime = clock.lastTime
            c.clockCounter = clock.lastCounter
            if let t = maxCommitTime { c.appliedCommitTime = t }
            c.appliedEvents += Int64(changes.count)
            c.updatedAt = now
            batch.checkpoints = [c]
        }
        let toCommit = batch
        if !toCommit.isEmpty {
            try await ledgerWorker.run { try ledger.commit(toCommit) }
        }
        return result
    }
}
