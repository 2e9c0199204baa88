import DeltaCore
import SQLiteSupport

extension SQLiteLedger {
    /// The connection and its prepared statements; only ever used under the ledger's lock.
    final class Connection {
        let db: SQLiteDatabase
        let keepHistory: Bool
        /// Keys in schema 3's form (``SQLiteLedgerKey``), else all as text.
        let integerKeys: Bool
        let selectDocument: SQLiteStatement
        let upsertDocument: SQLiteStatement
        let insertHistory: SQLiteStatement
        let upsertWrite: SQLiteStatement
        let selectWrites: SQLiteStatement
        let upsertCheckpoint: SQLiteStatement
        let selectCheckpoint: SQLiteStatement
        let insertDeadLetter: SQLiteStatement
        let selectImage: SQLiteStatement
        let upsertImage: SQLiteStatement
        let deleteImage: SQLiteStatement

        init(_ db: SQLiteDatabase, keepHistory: Bool, integerKeys: Bool) throws {
            self.db = db
            self.keepHistory = keepHistory
            self.integerKeys = integerKeys
            selectDocument = try db.prepare("SELECT state FROM documents WHERE ns = ? AND key = ?")
            upsertDocument = try db.prepare("""
                INSERT INTO documents(ns, key, state, alive, tombstone_time, attribute_count) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(ns, key) DO UPDATE SET state = excluded.state, alive = excluded.alive,
                    tombstone_time = excluded.tombstone_time, attribute_count = excluded.attribute_count
                """)
            insertHistory = try db.prepare("""
                INSERT OR IGNORE INTO history(ns, key, time, counter, origin, name, kind, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            upsertWrite = try db.prepare("""
                INSERT INTO writes(store, ns, key, name, value, time, counter, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(store, ns, key, name) DO UPDATE SET value = excluded.value, time = excluded.time,
                    counter = excluded.counter, origin = excluded.origin
                """)
            selectWrites = try db.prepare("SELECT name, value, time, counter, origin FROM writes WHERE store = ? AND ns = ? AND key = ?")
            upsertCheckpoint = try db.prepare("""
                INSERT INTO checkpoints(pipeline, scope, position, clock_time, clock_counter, applied_commit_time, applied_events, updated_at, extra)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(pipeline, scope) DO UPDATE SET position = excluded.position, clock_time = excluded.clock_time,
                    clock_counter = excluded.clock_counter, applied_commit_time = excluded.applied_commit_time,
                    applied_events = excluded.applied_events, updated_at = excluded.updated_at, extra = excluded.extra
                """)
            selectCheckpoint = try db.prepare("""
                SELECT pipeline, scope, position, clock_time, clock_counter, applied_commit_time, applied_events, updated_at, extra
                FROM checkpoints WHERE pipeline = ? AND scope = ?
                """)
            selectImage = try db.prepare("SELECT image FROM images WHERE store = ? AND ns = ? AND key = ?")
            upsertImage = try db.prepare("""
                INSERT INTO images(store, ns, key, image) VALUES (?, ?, ?, ?)
                ON CONFLICT(store, ns, key) DO UPDATE SET image = excluded.image
                """)
            deleteImage = try db.prepare("DELETE FROM images WHERE store = ? AND ns = ? AND key = ?")
            insertDeadLetter = try db.prepare("""
                INSERT INTO dead_letters(pipeline, flow, store, ns, key, reason, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        }

        static func decode(_ blob: [UInt8]) throws -> Value {
            do {
                return try ValueEncoding.decode(blob)
            } catch {
                throw LedgerError("ledger holds a value it cannot decode (\(error)); the ledger file is damaged — restore it or resync")
            }
        }

        /// Reads one document's state. Namespace and key are bound in place (SQLite copies
        /// nothing) while the statement runs; every parameter is bound each time.
        func load(_ namespace: Namespace, _ key: DocumentKey) throws -> DocumentState {
            let s = selectDocument
            var name = namespace.name
            var canonical = key.canonical
            let encoded: [UInt8]? = try name.withUTF8 { name in
                try canonical.withUTF8 { canonical in
                    // Reset while the bound bytes are still alive.
                    defer { s.resetKeepingBindings() }
                    try s.bindInPlace(1, textBytes: name)
                    try SQLiteLedgerKey.bindInPlace(s, 2, canonical, integerKeys: integerKeys)
                    return try s.step() ? s.blob(0) : nil
                }
            }
            guard let encoded else { return DocumentState() }
            do {
                return try DocumentStateEncoding.decode(encoded)
            } catch {
                throw LedgerError("ledger holds a document it cannot decode (\(namespace)/\(key): \(error)); the ledger file is damaged — restore it or resync")
            }
        }

        func loadImage(store: StoreID, _ namespace: Namespace, _ key: DocumentKey) throws -> [AttributeName: Value]? {
            let s = selectImage
            defer { s.reset() }
            try s.bind([.text(store.name), .text(namespace.name), SQLiteLedgerKey.binding(key, integerKeys: integerKeys)])
            guard try s.step() else { return nil }
            guard case let .object(image) = try Self.decode(s.blob(0)) else {
                throw LedgerError("ledger holds a damaged store image for \(namespace)/\(key); restore the ledger or resync")
            }
            return image
        }

        func loadWrites(store: StoreID, _ namespace: Namespace, _ key: DocumentKey) throws -> [AttributeName: AttributeState] {
            let s = selectWrites
            defer { s.reset() }
            try s.bind([.text(store.name), .text(namespace.name), SQLiteLedgerKey.binding(key, integerKeys: integerKeys)])
            var out = [AttributeName: AttributeState]()
            while try s.step() {
                let stamp = Stamp(time: s.int64(2), counter: UInt32(truncatingIfNeeded: s.int64(3)), origin: StoreID(s.text(4)))
                out[s.text(0)] = AttributeState(value: s.isNull(1) ? nil : try Self.decode(s.blob(1)), stamp: stamp)
            }
            return out
        }

        func commit(_ batch: LedgerBatch) throws -> [DocumentRef: Merge.Outcome] {
            if let merged = batch.mergedDocuments {
                return try db.transaction {
                    for document in merged { try storeDocument(document.ref, document.state) }
                    if keepHistory {
                        for d in batch.deltas { try storeHistory(d) }
                    }
                    try storeRest(batch)
                    return [:]
                }
            }
            // Group by document, keeping first-seen order so the work is deterministic.
            var order = [DocumentRef]()
            var groups = [[Delta]]()
            var index = [DocumentRef: Int](minimumCapacity: batch.deltas.count / 4)
            for delta in batch.deltas {
                let ref = DocumentRef(delta.namespace, delta.key)
                if let i = index[ref] {
                    groups[i].append(delta)
                } else {
                    index[ref] = groups.count
                    order.append(ref)
                    groups.append([delta])
                }
            }
            return try db.transaction {
                var outcomes = [DocumentRef: Merge.Outcome](minimumCapacity: order.count)
                for (i, ref) in order.enumerated() {
                    let deltas = groups[i]
                    var state = try load(ref.namespace, ref.key)
                    let outcome = Merge.merge(deltas, into: &state)
                    outcomes[ref] = outcome
                    if !outcome.changedAttributes.isEmpty || outcome.tombstoneChanged {
                        try storeDocument(ref, state)
                    }
                    if keepHistory {
                        for d in deltas { try storeHistory(d) }
                    }
                }
                try storeRest(batch)
                return outcomes
            }
        }

        /// Stores everything of a batch but its deltas.
        private func storeRest(_ batch: LedgerBatch) throws {
            for w in batch.writes { try storeWrite(w) }
            for i in batch.images {
                if let image = i.image {
                    try upsertImage.run([.text(i.store.name), .text(i.namespace.name), SQLiteLedgerKey.binding(i.key, integerKeys: integerKeys),
                                         .blob(ValueEncoding.encode(.object(image)))])
                } else {
                    try deleteImage.run([.text(i.store.name), .text(i.namespace.name), SQLiteLedgerKey.binding(i.key, integerKeys: integerKeys)])
                }
            }
            for c in batch.checkpoints { try storeCheckpoint(c) }
            for d in batch.deadLetters {
                try insertDeadLetter.run([.text(d.pipeline), .text(d.flow), .text(d.store), .text(d.namespace), .text(d.key),
                                          .text(d.reason), .text(d.payload), .int(d.createdAt)])
            }
        }

        /// Encodes the states this connection stores (it sorts attribute names once per shape).
        private var stateEncoder = DocumentStateEncoding.Encoder()

        /// Stores one document's state. Namespace, key and state are bound in place (SQLite
        /// copies nothing) and the statement runs while they are alive; every parameter is bound
        /// each time, so the statement keeps its bindings across resets instead of clearing them.
        private func storeDocument(_ ref: DocumentRef, _ state: DocumentState) throws {
            let s = upsertDocument
            var namespace = ref.namespace.name
            var key = ref.key.canonical
            try namespace.withUTF8 { namespace in
                try key.withUTF8 { key in
                    try stateEncoder.withEncoded(state) { encoded in
                        // Reset while the bound bytes are still alive.
                        defer { s.resetKeepingBindings() }
                        try s.bindInPlace(1, textBytes: namespace)
                        try SQLiteLedgerKey.bindInPlace(s, 2, key, integerKeys: integerKeys)
                        try s.bindInPlace(3, blobBytes: encoded)
                        try s.bind(4, state.isAlive ? 1 : 0)
                        if let tomb = state.tombstone { try s.bind(5, tomb.time) } else { try s.bindNull(5) }
                        try s.bind(6, Int64(state.attributeCount))
                        try s.step()
                    }
                }
            }
        }

        private func storeHistory(_ d: Delta) throws {
            let (name, kind, value): (String, Int64, StatementValue) = switch d.change {
            case let .set(n, v): (n, 0, .blob(ValueEncoding.encode(v)))
            case let .unset(n): (n, 1, .blob([]))
            case .tombstone: ("", 2, .blob([]))
            }
            try insertHistory.run([.text(d.namespace.name), SQLiteLedgerKey.binding(d.key, integerKeys: integerKeys), .int(d.stamp.time), .int(Int64(d.stamp.counter)),
                                   .text(d.stamp.origin.name), .text(name), .int(kind), value])
        }

        private func storeWrite(_ w: WriteRecord) throws {
            try upsertWrite.run([.text(w.store.name), .text(w.namespace.name), SQLiteLedgerKey.binding(w.key, integerKeys: integerKeys), .text(w.attribute),
                                 w.value.map { .blob(ValueEncoding.encode($0)) } ?? .null,
                                 .int(w.stamp.time), .int(Int64(w.stamp.counter)), .text(w.stamp.origin.name)])
        }

        private func storeCheckpoint(_ c: Checkpoint) throws {
            try upsertCheckpoint.run([.text(c.pipeline), .text(c.scope), .text(c.position), .int(c.clockTime), .int(Int64(c.clockCounter)),
                                      c.appliedCommitTime.map { .int($0) } ?? .null, .int(c.appliedEvents), .int(c.updatedAt),
                                      c.extra.map { .text($0) } ?? .null])
        }

        static func checkpoint(from s: SQLiteStatement) -> Checkpoint {
            Checkpoint(pipeline: s.text(0), scope: s.text(1), position: s.text(2), clockTime: s.int64(3),
                       clockCounter: UInt32(truncatingIfNeeded: s.int64(4)), appliedCommitTime: s.isNull(5) ? nil : s.int64(5),
                       appliedEvents: s.int64(6), updatedAt: s.int64(7), extra: s.isNull(8) ? nil : s.text(8))
        }
    }
}

typealias StatementValue = SQLiteStatement.Binding
