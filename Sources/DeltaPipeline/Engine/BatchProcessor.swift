import DeltaConnector
import DeltaCore
import DeltaLedger
import Logging

/// Processes one batch of one source of a flow in two steps: ``prepare`` normalises against the
/// ledger, merges and plans; ``apply`` applies to the targets and hands back the ledger batch
/// (merged states, write records, checkpoint) to commit as one transaction.
///
/// Invariant: the returned checkpoint exists only after every target applied (or refused) its
/// patches, in the same ledger batch as the batch's deltas (DESIGN §1).
struct BatchProcessor: Sendable {
    let pipeline: String
    let flow: FlowConfig
    let source: StoreID
    let ledger: any Ledger
    /// Where ledger reads run (not the committing worker, so reads go on while a commit is written).
    let readWorker: BlockingWorker
    let sinks: [StoreID: any SinkConnector]
    /// Stores that some flow reads: only writes to them are recorded (for echoes and guards).
    let sourceStores: Set<StoreID>
    let logger: Logger
    /// Per collection mapping of the flow (same index): how this source's changes normalise (nil
    /// when the source does not hold the collection) and how their patches are planned.
    let normalizers: [Normalizer?]
    let planners: [Planner]
    /// Mapping index by the source's collection name.
    let mappingByCollection: [String: Int]
    /// The stores this source's changes are applied to (the source itself excluded).
    let targets: [StoreID]
    /// Whether prepared ledger batches carry their deltas (history on); the merged states carry
    /// their effect either way.
    let keepsDeltas: Bool

    init(pipeline: String, flow: FlowConfig, source: StoreID, ledger: any Ledger, readWorker: BlockingWorker,
         sinks: [StoreID: any SinkConnector], sourceStores: Set<StoreID>, keepsDeltas: Bool = true, logger: Logger) {
        self.pipeline = pipeline
        self.flow = flow
        self.source = source
        self.ledger = ledger
        self.readWorker = readWorker
        self.sinks = sinks
        self.sourceStores = sourceStores
        self.keepsDeltas = keepsDeltas
        self.logger = logger
        normalizers = flow.collections.map { m in m.mapping(for: source).map { Normalizer(mapping: m, storeMapping: $0) } }
        planners = flow.collections.map { Planner(flow: flow, mapping: $0) }
        var byCollection = [String: Int]()
        for (i, m) in flow.collections.enumerated() {
            if let sm = m.mapping(for: source) { byCollection[sm.spec.name] = i }
        }
        mappingByCollection = byCollection
        targets = flow.direction.targets(of: source).filter { $0 != source }
    }

    /// What a processed batch did.
    struct Result: Sendable {
        var deltas = 0
        var patchesApplied = 0
        var guardsFailed = 0
        var rejected = 0
        var clamped = 0
    }

    /// Everything the batch knows of one of its documents; documents are numbered in the order
    /// their first change arrived, and every step addresses them by that number.
    struct Document {
        let ref: DocumentRef
        let mappingIndex: Int
        /// The ledger's state before the batch, and as the batch has merged it so far.
        var loaded = DocumentState()
        var working = DocumentState()
        /// The store's own view of the document, in its log order (two-way flows only).
        var shadow: [AttributeName: Value]?
        var shadowed = false
        /// What the bridge last wrote of the document, per store (guards and echoes only).
        var written: [StoreID: [AttributeName: AttributeState]] = [:]
        /// The store's latest report of the document (echo or not).
        var observed: [AttributeName: Value]?
        var observedIsFull = false
        var observedDeleted = false
        var reported = false
        /// The source reported the document present (a non-echo upsert) in this batch.
        var upserted = false
        var deltaCount = 0
        var mayBeEcho = false
        /// The image the batch created the document from, while no other change touched it.
        var createdFrom: [AttributeName: Value]?
    }

    /// A processed batch: what it did, and what the ledger must commit for it.
    struct Processed: Sendable {
        var result: Result
        var batch: LedgerBatch
    }

    /// A planned batch: the patches for the targets, and the ledger batch to commit once they
    /// are applied (without write records and the dead letters of refused patches, which only
    /// the targets' answers give).
    struct Prepared: Sendable {
        var result: Result
        var planned: [PlannedPatch]
        var batch: LedgerBatch
        var now: Int64

        /// True when applying may add write records (for echoes and guards): the next batch
        /// must then plan after this one's targets answered.
        var recordsWrites: Bool { planned.contains { !$0.writes.isEmpty } }
    }

    /// Plans `changes` against the ledger as `pending` (the batches not yet committed) will leave
    /// it; `checkpoint` (already carrying the new position) is completed with the clock state and
    /// counters and returned in the ledger batch. `unknownToLedger`: the caller knows that neither
    /// the ledger nor a batch in `pending` holds any of these documents (the first snapshot of a
    /// one-way flow's empty namespace, whose rows are read once each), so their states are not
    /// read.
    func prepare(_ changes: [RowChange], clock: inout HybridClock, checkpoint: Checkpoint?, now: Int64,
                 pending: [CommitQueue.Overlay] = [], unknownToLedger: Bool = false) async throws -> Prepared {
        var result = Result()
        let twoWay = flow.direction.isTwoWay
        // Unmarked changes are matched against write records only where the bridge writes at all.
        let matchEchoes = sinks[source] != nil

        // 1. Route changes to their collection mapping and document.
        var documentIndex = [DocumentRef: Int](minimumCapacity: changes.count)
        var routed = [(change: Int, document: Int)]()
        routed.reserveCapacity(changes.count)
        var deadLetters = [DeadLetter]()
        var documents = [Document]()
        documents.reserveCapacity(changes.count)
        // Through the buffer: a change is read in place, not copied.
        var lastCollection: (name: String, index: Int)?
        changes.withUnsafeBufferPointer { changes in
            for c in changes.indices {
                // Changes of one batch usually come from one collection: compared before hashed.
                let index: Int
                if let last = lastCollection, utf8Equal(last.name, changes[c].collection) {
                    index = last.index
                } else {
                    guard let found = mappingByCollection[changes[c].collection] else { continue }
                    index = found
                    lastCollection = (changes[c].collection, found)
                }
                guard let normalizer = normalizers[index] else { continue }
                guard let key = normalizer.key(of: changes[c].attributes) else {
                    deadLetters.append(DeadLetter(pipeline: pipeline, flow: flow.name, store: source.name, namespace: normalizer.mapping.namespace.name, key: "",
                                                  reason: "change in \(changes[c].collection) has no value for key attribute(s) \(normalizer.storeMapping.spec.keyAttributes.joined(separator: ", ")) — fix the key in the pipeline's mapping",
                                                  payload: String(describing: changes[c].attributes), createdAt: now))
                    continue
                }
                let ref = DocumentRef(normalizer.mapping.namespace, key)
                // One lookup: the index of a document seen before, or the next one, stored.
                let next = documents.count
                let d = Self.value(&documentIndex[ref, default: next])
                if d == next { documents.append(Document(ref: ref, mappingIndex: index)) }
                if changes[c].isEcho || (changes[c].matchEchoes && matchEchoes) { documents[d].mayBeEcho = true }
                routed.append((c, d))
            }
        }

        // 2. Read the ledger's state of every document in the batch.
        try await load(&documents, twoWay: twoWay, pending: pending, unknownToLedger: unknownToLedger)

        // 3. Normalise and merge in source order.
        var deltas = [Delta]()
        if keepsDeltas { deltas.reserveCapacity(routed.count * 2) }
        var scratch = [Delta.Change]()
        var maxCommitTime: Int64?
        for (c, d) in routed {
            let normalizer = normalizers[documents[d].mappingIndex]!
            merge(changes[c], into: &documents[d], normalizer, twoWay: twoWay, matchEchoes: matchEchoes, clock: &clock, now: now,
                  result: &result, deltas: &deltas, scratch: &scratch, maxCommitTime: &maxCommitTime)
        }

        // 4. Plan the patches of every target (and write-backs to the source in two-way flows),
        // and 5. what the ledger commits once the targets applied the patches: deltas, merged
        // states, images, dead letters and the checkpoint, in one transaction. The documents are
        // not used after this: their states move into the patches' planning and the ledger batch.
        var planned = [PlannedPatch]()
        planned.reserveCapacity(documents.count * max(1, targets.count))
        var batch = LedgerBatch(deltas: deltas, writes: [], checkpoints: [], deadLetters: deadLetters, images: [])
        var merged = [MergedDocument]()
        merged.reserveCapacity(documents.count)
        for i in documents.indices {
            let ref = documents[i].ref
            var working = Self.take(&documents[i].working, leaving: DocumentState())
            if documents[i].reported {
                var change = Planner.DocumentChange(ref: ref, before: Self.take(&documents[i].loaded, leaving: DocumentState()),
                                                    after: Self.take(&working, leaving: DocumentState()),
                                                    observed: Self.take(&documents[i].observed, leaving: nil),
                                                    observedIsFull: documents[i].observedIsFull,
                                                    observedDeleted: documents[i].observedDeleted, upserted: documents[i].upserted,
                                                    createdFrom: Self.take(&documents[i].createdFrom, leaving: nil))
                let written = documents[i].written
                planners[documents[i].mappingIndex].appendPatches(for: change, from: source, recording: sourceStores,
                                                                  writesOf: { written[$0] ?? [:] }, to: &planned)
                working = Self.take(&change.after, leaving: DocumentState())
            }
            if documents[i].deltaCount > 0 { merged.append(MergedDocument(ref: ref, state: Self.take(&working, leaving: DocumentState()))) }
            if documents[i].shadowed {
                batch.images.append(StoreImage(store: source, namespace: ref.namespace, key: ref.key, image: documents[i].shadow))
            }
        }
        // The engine's gate makes this batch the ledger's only writer since the states were
        // read, so each merged state is exactly what the ledger's own merge would produce.
        batch.mergedDocuments = merged
        if var c = checkpoint {
            c.clockTime = clock.lastTime
            c.clockCounter = clock.lastCounter
            if let t = maxCommitTime { c.appliedCommitTime = t }
            c.appliedEvents += Int64(changes.count)
            c.updatedAt = now
            batch.checkpoints = [c]
        }
        return Prepared(result: result, planned: planned, batch: batch, now: now)
    }

    /// Applies a prepared batch to its targets; returns the ledger batch completed with the
    /// write records of applied patches and the dead letters of refused ones.
    func apply(_ prepared: Prepared) async throws -> Processed {
        var result = prepared.result
        var batch = prepared.batch
        batch.writes = try await apply(prepared.planned, deadLetters: &batch.deadLetters, result: &result, now: prepared.now)
        return Processed(result: result, batch: batch)
    }

    /// The value behind `slot`: with a dictionary's `default:` subscript, one lookup both finds
    /// a key and stores its default when it is missing.
    private static func value(_ slot: inout Int) -> Int { slot }

    /// Moves the value out of `slot`, leaving `empty` there: no copy of what it holds.
    private static func take<T>(_ slot: inout T, leaving empty: T) -> T {
        var value = empty
        swap(&value, &slot)
        return value
    }

    /// Step 3 for one change, in source order: stamps it and merges it into its document's
    /// working state, or records it as an echo (rule 7). The document is worked on in place.
    private func merge(_ change: RowChange, into document: inout Document, _ normalizer: Normalizer, twoWay: Bool, matchEchoes: Bool,
                       clock: inout HybridClock, now: Int64, result: inout Result, deltas: inout [Delta],
                       scratch: inout [Delta.Change], maxCommitTime: inout Int64?) {
        document.createdFrom = nil
        if let t = change.commitTime { maxCommitTime = max(maxCommitTime ?? t, t) }
        let baseline = document.shadow
        if twoWay {
            document.shadow = normalizer.image(after: change, previous: baseline)
            document.shadowed = true
        }
        let isEcho = change.isEcho
            || (change.matchEchoes && matchEchoes && EchoMatcher(normalizer: normalizer).isEcho(change, state: document.working, written: document.written[source]))
        if isEcho {
            // Rule 7: the bridge's own write coming back. No delta; rule 4: later changes of
            // this store are stamped after what the bridge wrote here.
            if let newest = document.written[source]?.values.map(\.stamp).max() { clock.observe(newest) }
            // What the store now holds, for the write-back check below.
            if twoWay { observe(&document, change, normalizer) }
            return
        }
        let issued = clock.stamp(sourceTime: normalizer.sourceTime(of: change), now: now)
        if issued.clamped {
            result.clamped += 1
            logger.warning("clock skew: \(source) reported a change time more than \(DurationText.format(clock.maxClockSkew)) ahead of this machine; stamped with the bridge clock instead",
                           metadata: ["flow": "\(flow.name)", "document": "\(document.ref)"])
        }
        if change.operation == .upsert { document.upserted = true }
        if baseline == nil, change.operation == .upsert, document.working.isEmpty {
            // A document the ledger has never seen: every attribute of the image is set, so
            // the state is the image stamped, kept as it is.
            let image = normalizer.logicalImage(of: change)
            document.working = DocumentState(image: image, stamp: issued.stamp)
            document.createdFrom = image
            document.deltaCount += image.count
            result.deltas += image.count
            if keepsDeltas {
                let ref = document.ref
                for (name, value) in image { deltas.append(Delta(namespace: ref.namespace, key: ref.key, change: .set(name, value), stamp: issued.stamp)) }
            }
            observe(&document, change, normalizer)
            return
        }
        scratch.removeAll(keepingCapacity: true)
        normalizer.appendChanges(for: change, state: document.working, baseline: baseline, to: &scratch)
        if !scratch.isEmpty {
            if document.working.attributeCount == 0 { document.working.attributes.reserveCapacity(scratch.count) }
            for c in scratch { Merge.apply(c, stamp: issued.stamp, to: &document.working) }
            document.deltaCount += scratch.count
            result.deltas += scratch.count
            if keepsDeltas {
                let ref = document.ref
                for c in scratch { deltas.append(Delta(namespace: ref.namespace, key: ref.key, change: c, stamp: issued.stamp)) }
            }
        }
        observe(&document, change, normalizer)
    }

    /// Records the store's latest report of a document (echo or not): the write-back compares
    /// the ledger's winner with what the store holds after its last event in this batch.
    private func observe(_ document: inout Document, _ change: RowChange, _ normalizer: Normalizer) {
        document.reported = true
        if change.operation == .delete {
            document.observed = nil
            document.observedIsFull = false
            document.observedDeleted = true
        } else if !flow.direction.isTwoWay {
            // Only write-backs (two-way) compare the store's report with the winner.
            document.observed = nil
            document.observedIsFull = change.image == .full
            document.observedDeleted = false
        } else {
            var image = normalizer.logicalImage(of: change)
            if change.image == .partial, var previous = document.observed {
                for (k, v) in image { previous[k] = v }
                image = previous
            }
            document.observed = image
            document.observedIsFull = change.image == .full
            document.observedDeleted = false
        }
    }

    /// Fills in each document's ledger state, and what guards, echoes and baselines need, as the
    /// ledger holds them once `pending` is committed.
    private func load(_ documents: inout [Document], twoWay: Bool, pending: [CommitQueue.Overlay], unknownToLedger: Bool) async throws {
        guard !documents.isEmpty else { return }
        // New documents of a one-way flow: nothing to read, unless some may be echoes.
        if unknownToLedger, !twoWay, !documents.contains(where: \.mayBeEcho) { return }
        let ledger = self.ledger
        let source = self.source
        let targets = self.targets
        var byNamespace = [Namespace: [Int]]()
        for (i, d) in documents.enumerated() { byNamespace[d.ref.namespace, default: []].append(i) }
        let groups = byNamespace.map { (namespace: $0.key, indexes: $0.value, keys: $0.value.map { documents[$0].ref.key }) }
        let echoIndexes = documents.indices.filter { documents[$0].mayBeEcho }
        let refs = documents.map(\.ref)
        typealias Loaded = (states: [[DocumentState]], images: [[[AttributeName: Value]?]], writes: [(Int, StoreID, [AttributeName: AttributeState])])
        let loaded = try await readWorker.run { () throws -> Loaded in
            var states = [[DocumentState]]()
            var images = [[[AttributeName: Value]?]]()
            for group in groups {
                states.append(unknownToLedger ? [DocumentState](repeating: DocumentState(), count: group.keys.count)
                                              : try ledger.stateList(group.namespace, group.keys))
                if twoWay { images.append(try ledger.imageList(store: source, group.namespace, group.keys)) }
            }
            // Guards (rule 8) need what the bridge wrote to every target; echoes (rule 4) need
            // what it wrote to the source, for the documents that may have come back as echoes.
            var writes = [(Int, StoreID, [AttributeName: AttributeState])]()
            func load(_ store: StoreID, _ indexes: [Int]) throws {
                for (i, w) in zip(indexes, try ledger.writeList(store: store, indexes.map { refs[$0] })) where !w.isEmpty {
                    writes.append((i, store, w))
                }
            }
            if twoWay {
                for store in targets + [source] { try load(store, Array(refs.indices)) }
            } else if !echoIndexes.isEmpty {
                try load(source, echoIndexes)
            }
            return (states, images, writes)
        }
        for (g, group) in groups.enumerated() {
            for (k, i) in group.indexes.enumerated() {
                documents[i].loaded = loaded.states[g][k]
                documents[i].working = loaded.states[g][k]
                if twoWay { documents[i].shadow = loaded.images[g][k] }
            }
        }
        for (i, store, w) in loaded.writes { documents[i].written[store] = w }
        for pending in pending {
            apply(pending, to: &documents, twoWay: twoWay)
        }
    }

    /// Replaces what the ledger said of each document by what a batch in flight will commit.
    private func apply(_ pending: CommitQueue.Overlay, to documents: inout [Document], twoWay: Bool) {
        let sourceImages = pending.images[source]
        let states = pending.states.byDocument
        for i in documents.indices {
            let ref = documents[i].ref
            if let state = states[ref] {
                documents[i].loaded = state
                documents[i].working = state
            }
            if twoWay, let image = sourceImages?[ref] { documents[i].shadow = image }
            for (store, byDocument) in pending.writes {
                guard let written = byDocument[ref], twoWay || (store == source && documents[i].mayBeEcho) else { continue }
                documents[i].written[store, default: [:]].merge(written) { _, newer in newer }
            }
        }
    }

    /// Applies the planned patches, each target's in one call, targets in parallel; returns the
    /// write records to keep (those of applied patches to stores some flow reads).
    private func apply(_ planned: [PlannedPatch], deadLetters: inout [DeadLetter], result: inout Result, now: Int64) async throws -> [WriteRecord] {
        var targetOrder = [StoreID]()
        var byTarget = [[Int]]()
        // Through the buffer: reading a target does not copy its whole planned patch.
        planned.withUnsafeBufferPointer { buffer in
            for i in buffer.indices {
                if let t = targetOrder.firstIndex(of: buffer[i].target) {
                    byTarget[t].append(i)
                } else {
                    targetOrder.append(buffer[i].target)
                    byTarget.append([i])
                }
            }
        }
        let sinks = self.sinks
        let outcomes = try await withThrowingTaskGroup(of: (Int, [PatchResult]).self) { group in
            for (t, target) in targetOrder.enumerated() {
                guard let sink = sinks[target] else { continue }
                // Through the buffer: only each patch is copied, not the whole planned patch.
                let patches = planned.withUnsafeBufferPointer { buffer in byTarget[t].map { buffer[$0].patch } }
                group.addTask { (t, try await sink.apply(patches)) }
            }
            var all = [(Int, [PatchResult])]()
            for try await r in group { all.append(r) }
            return all
        }
        var writes = [WriteRecord]()
        for (t, results) in outcomes {
            let target = targetOrder[t]
            let record = sourceStores.contains(target)
            for (i, r) in zip(byTarget[t], results) {
                switch r {
                case .applied:
                    result.patchesApplied += 1
                    if record { planned.withUnsafeBufferPointer { writes += $0[i].writes } }
                case .guardFailed:
                    result.guardsFailed += 1
                    logger.debug("guard failed: \(target) has a newer local edit of \(planned[i].ref); it will arrive through its own stream")
                case let .rejected(reason):
                    let p = planned[i]
                    result.rejected += 1
                    logger.error("dead letter: \(target) refused \(p.ref): \(reason)", metadata: ["flow": "\(flow.name)"])
                    deadLetters.append(DeadLetter(pipeline: pipeline, flow: flow.name, store: target.name, namespace: p.ref.namespace.name,
                                                  key: p.ref.key.canonical, reason: reason, payload: String(describing: p.patch.action), createdAt: now))
                }
            }
        }
        return writes
    }
}

