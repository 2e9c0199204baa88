import DeltaConnector
import DeltaCore

/// Writes document patches into CouchDB databases with `_bulk_docs`: reads the current winning
/// revision of each document (`_all_docs` with `keys`), checks the two-way guards against it,
/// builds the new body (partial updates keep the members the patch does not name, and the
/// attachment stubs), and writes it on that `_rev`; deletes send `_deleted` with the rev. A
/// `conflict` (a newer edit landed between read and write) re-reads the document, re-checks its
/// guard and retries, up to 5 times.
///
/// Invariants: all HTTP calls run on this sink's ``BlockingWorker``; a patch that would not
/// change the document writes nothing (no new revision, so no echo ping-pong); every revision
/// written is recorded in ``CouchDBRevisionLog`` (echo marking, rule 7); every refused document
/// is reported as ``PatchResult/rejected(_:)`` with CouchDB's reason, never dropped.
public final class CouchDBSink: SinkConnector {
    public let store: StoreID
    public let config: CouchDBStoreConfig
    let worker: BlockingWorker
    let state: State

    public init(config: CouchDBStoreConfig) {
        self.store = config.store
        self.config = config
        self.worker = BlockingWorker(label: "couchdb-sink.\(config.store.name)")
        self.state = State(client: CouchDBClient(config: config))
    }

    public func prepare(collections: [CollectionSpec]) async throws {
        let state = self.state
        try await worker.run { try state.register(collections) }
    }

    public func apply(_ patches: [DocumentPatch]) async throws -> [PatchResult] {
        if patches.isEmpty { return [] }
        let state = self.state
        return try await worker.run { try state.apply(patches) }
    }

    public func read(_ collection: CollectionSpec, keys: [[String: Value]]) async throws -> [[String: Value]?] {
        let state = self.state
        return try await worker.run { try state.read(collection, keys: keys) }
    }

    /// The sink's client and the collections it knows; touched only on the worker.
    final class State: @unchecked Sendable {
        let client: CouchDBClient
        /// Write rounds per batch when documents keep meeting `conflict`.
        let maxAttempts = 5
        /// Called with the database before each `_bulk_docs` (tests use it to interleave a
        /// concurrent edit and provoke a `conflict`).
        var beforeWrite: ((String) throws -> Void)?
        private var specs: [String: CollectionSpec] = [:]
        private var ready: Set<String> = []

        init(client: CouchDBClient) { self.client = client }

        var config: CouchDBStoreConfig { client.config }

        func register(_ collections: [CollectionSpec]) throws {
            for c in collections { specs[c.name] = c }
        }

        private func spec(_ name: String, key: [String: Value]) -> CollectionSpec {
            if let s = specs[name] { return s }
            return CollectionSpec(name: name, keyAttributes: key.keys.isEmpty ? ["_id"] : key.keys.sorted())
        }

        private func ensure(_ db: String) throws {
            if ready.contains(db) { return }
            _ = try client.requireDatabase(db)
            ready.insert(db)
        }

        func read(_ collection: CollectionSpec, keys: [[String: Value]]) throws -> [[String: Value]?] {
            try ensure(collection.name)
            let ids = keys.map { try? CouchDBValueMapping.documentID($0, spec: collection) }
            let current = try client.current(collection.name, ids: ids.compactMap { $0 })
            return ids.map { id in
                guard let id, let body = current[id]?.body else { return nil }
                return CouchDBValueMapping.attributes(of: body, id: id, spec: collection)
            }
        }

        /// One patch in flight: its document id and, once decided, its result.
        private struct Pending {
            let index: Int
            let id: String
        }

        func apply(_ patches: [DocumentPatch]) throws -> [PatchResult] {
            var results = [PatchResult?](repeating: nil, count: patches.count)
            var byDatabase = [String: [Pending]]()
            var order = [String]()
            for (i, patch) in patches.enumerated() {
                let spec = spec(patch.collection, key: patch.key)
                do {
                    let id = try CouchDBValueMapping.documentID(patch.key, spec: spec)
                    if byDatabase[patch.collection] == nil { order.append(patch.collection) }
                    byDatabase[patch.collection, default: []].append(Pending(index: i, id: id))
                } catch {
                    results[i] = .rejected("database '\(patch.collection)': \(error.reason)")
                }
            }
            for db in order {
                try ensure(db)
                try apply(db, byDatabase[db]!, patches, into: &results)
            }
            return results.map { $0 ?? .rejected("not applied") }
        }

        private func apply(_ db: String, _ pending: [Pending], _ patches: [DocumentPatch], into results: inout [PatchResult?]) throws {
            var todo = pending
            for attempt in 1...maxAttempts {
                let current = try client.current(db, ids: Array(Set(todo.map(\.id))))
                var docs = [Value]()
                var writing = [Pending]()
                var seen = Set<String>()
                var later = [Pending]()
                for p in todo {
                    // Two patches of one document in a batch: the second waits for the next round.
                    if !seen.insert(p.id).inserted { later.append(p); continue }
                    let patch = patches[p.index]
                    let spec = spec(db, key: patch.key)
                    switch decide(patch, id: p.id, spec: spec, current: current[p.id]) {
                    case let .done(result): results[p.index] = result
                    case let .write(doc):
                        docs.append(.object(doc))
                        writing.append(p)
                    }
                }
                var conflicted = later
                if !docs.isEmpty {
                    try beforeWrite?(db)
                    let answers = try client.bulkDocs(db, docs)
                    for (k, p) in writing.enumerated() {
                        let a = k < answers.count ? answers[k] : [:]
                        if a["ok"] == .bool(true) {
                            if let rev = a["rev"]?.stringValue {
                                CouchDBRevisionLog.shared.record(server: config.server.baseURL, database: db, id: p.id, rev: rev)
                            }
                            results[p.index] = .applied
                        } else if a["error"]?.stringValue == "conflict" {
                            conflicted.append(p)
                        } else {
                            let error = a["error"]?.stringValue ?? "no answer"
                            let reason = a["reason"]?.stringValue.map { ": \($0)" } ?? ""
                            results[p.index] = .rejected("database '\(db)', document \(JSONText.quote(p.id)): CouchDB refused it (\(error)\(reason))")
                        }
                    }
                }
                if conflicted.isEmpty { return }
                if attempt == maxAttempts {
                    for p in conflicted where results[p.index] == nil {
                        results[p.index] = .rejected("database '\(db)', document \(JSONText.quote(p.id)): still in conflict after \(attempt) re-reads — another writer keeps updating it")
                    }
                    return
                }
                todo = conflicted
            }
        }

        private enum Decision {
            case done(PatchResult)
            case write([String: Value])
        }

        /// What to do for one patch given the document's current state.
        private func decide(_ patch: DocumentPatch, id: String, spec: CollectionSpec, current: CouchDBCurrentDocument?) -> Decision {
            let live = current?.body
            if let expected = patch.expected, !guardHolds(expected, live: live, id: id, spec: spec) {
                return .done(.guardFailed)
            }
            let keyName = spec.keyAttributes[0]
            func fail(_ reason: String) -> Decision {
                .done(.rejected("database '\(patch.collection)', document \(JSONText.quote(id)): \(reason)"))
            }
            var body: [String: Value]
            switch patch.action {
            case .delete:
                guard let live, let rev = live["_rev"] else { return .done(.applied) }
                return .write(["_id": .string(id), "_rev": rev, "_deleted": .bool(true)])
            case let .upsert(set, unset):
                body = live ?? [:]
                body["_conflicts"] = nil
                do {
                    for (name, v) in set where name != "_id" {
                        try CouchDBValueMapping.checkName(name)
                        body[name] = try CouchDBValueMapping.json(v)
                    }
                } catch {
                    return fail(error.reason)
                }
                for name in unset where !name.hasPrefix("_") { body[name] = nil }
            case let .replace(content):
                body = [:]
                if let attachments = live?["_attachments"] { body["_attachments"] = attachments }
                if let rev = live?["_rev"] { body["_rev"] = rev }
                do {
                    for (name, v) in content where name != "_id" {
                        try CouchDBValueMapping.checkName(name)
                        body[name] = try CouchDBValueMapping.json(v)
                    }
                } catch {
                    return fail(error.reason)
                }
            }
            body["_id"] = .string(id)
            if keyName != "_id", let k = patch.key[keyName] {
                do { body[keyName] = try CouchDBValueMapping.json(k) } catch { return fail(error.reason) }
            }
            if let live {
                if CouchDBValueMapping.content(live) == CouchDBValueMapping.content(body) { return .done(.applied) }
                body["_rev"] = live["_rev"]
            } else {
                body["_rev"] = nil  // created, or re-created on top of a tombstone
            }
            return .write(body)
        }

        /// Rule 8: the document still holds the expected values (all nil: it must be missing).
        private func guardHolds(_ expected: [String: Value?], live: [String: Value]?, id: String, spec: CollectionSpec) -> Bool {
            guard let live else { return expected.values.allSatisfy { $0 == nil } }
            if expected.values.allSatisfy({ $0 == nil }) && expected.keys.allSatisfy(spec.keyAttributes.contains) { return false }
            for (name, want) in expected {
                let held: Value? = name == "_id" ? .string(id) : live[name]
                if name == spec.keyAttributes[0] && name != "_id" && held == nil { continue }
                switch (want, held) {
                case (nil, nil): continue
                case let (w?, h?):
                    guard let mapped = try? CouchDBValueMapping.json(w), mapped == h || w == h else { return false }
                case (.some(.null), nil), (nil, .some(.null)): continue
                default: return false
                }
            }
            return true
        }
    }
}
