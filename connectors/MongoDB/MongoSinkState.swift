import DeltaCore
import DeltaConnector

/// The connection and write logic of a ``MongoSink``; touched only on the sink's worker.
///
/// Invariant: ``apply(_:)`` returns one result per patch, in order.
final class MongoSinkState: @unchecked Sendable {
    let config: MongoStoreConfig
    private var connection: MongoConnection?

    /// Operations per bulk command at most.
    static let operationsPerCommand = 1000
    /// Bytes of operations per bulk command at most (the server takes 16 MiB documents).
    static let bytesPerCommand = 8 << 20
    /// Attempts for a write that hit a duplicate-key race or a write conflict.
    static let retries = 3

    init(config: MongoStoreConfig) { self.config = config }

    func open() throws -> MongoConnection {
        if let connection { return connection }
        let c = try MongoConnection.connect(config)
        connection = c
        return c
    }

    private func drop() {
        connection?.close()
        connection = nil
    }

    func prepare(_ collections: [CollectionSpec]) throws {
        for c in collections where c.keyAttributes != ["_id"] {
            throw ConnectorError(.permanent, "\(config.label): collection '\(c.name)' is keyed on \(c.keyAttributes.joined(separator: ", ")); MongoDB documents are identified by _id — use `key: _id` (rename it for the other stores)")
        }
    }

    /// One planned write: the index of its patch and the operation document of an `insert`,
    /// `update` or `delete` command. A new whole document goes as an insert first (much cheaper
    /// than an upsert) and as an upserted replacement if its `_id` exists.
    private struct Operation {
        enum Command: String { case insert, update, delete }
        var index: Int
        var collection: String
        var command: Command
        var document: BSONDocument
        var size: Int
        /// What the change stream will report for it (rule 7), when a source in this process reads it.
        var echo: MongoEchoRegistry.Write.Kind?
    }

    private struct Rejection: Error { let reason: String }

    // MARK: apply

    /// The registry scope, and whether this process reads it (else nothing is recorded).
    private var echoScope: String { MongoEchoRegistry.scope(config) }

    /// The echo of a patch as the change stream will report it (values as they read back).
    private func echo(of patch: DocumentPatch) -> MongoEchoRegistry.Write.Kind? {
        guard MongoEchoRegistry.shared.isRead(echoScope) else { return nil }
        func normal(_ v: Value) -> Value? { (try? MongoValueMapping.bson(v)).map(MongoValueMapping.value) }
        switch patch.action {
        case let .upsert(set, unset):
            var out = [String: Value]()
            for (k, v) in set where k != "_id" {
                guard let n = normal(v) else { return nil }
                out[k] = n
            }
            return .update(set: out, unset: Set(unset).subtracting(set.keys))
        case let .replace(document):
            guard let doc = try? replacement(document, patch) else { return nil }
            var attributes = MongoValueMapping.attributes(doc, nesting: config.nesting)
            attributes["_id"] = nil
            return .replace(attributes)
        case .delete:
            return .delete
        }
    }

    private func recordEcho(_ patch: DocumentPatch, _ kind: MongoEchoRegistry.Write.Kind?, _ reply: BSONDocument) {
        guard let kind, case let .timestamp(t, i)? = reply["operationTime"], let id = patch.key["_id"] else { return }
        MongoEchoRegistry.shared.record(echoScope, collection: patch.collection, id: id,
                                        MongoEchoRegistry.Write(kind: kind, until: MongoClusterTime(seconds: t, increment: i)))
    }

    func apply(_ patches: [DocumentPatch]) throws -> [PatchResult] {
        let conn = try open()
        var results = [PatchResult](repeating: .applied, count: patches.count)
        var bulk: [Operation] = []
        var conditional: [Int] = []
        for (i, patch) in patches.enumerated() {
            if patch.expected != nil {
                conditional.append(i)
                continue
            }
            do throws(Rejection) {
                if let op = try unconditional(i, patch) { bulk.append(op) }
            } catch {
                results[i] = .rejected(error.reason)
            }
        }
        do {
            try runBulk(conn, bulk, patches, &results)
            for i in conditional {
                do {
                    results[i] = try guarded(conn, patches[i])
                } catch let rejection as Rejection {
                    results[i] = .rejected(rejection.reason)
                }
            }
        } catch let error as MongoServerError {
            drop()
            throw conn.mapped(error, doing: "applying a batch")
        } catch {
            drop()
            throw error
        }
        return results
    }

    private func keyFilter(_ patch: DocumentPatch) throws(Rejection) -> BSONDocument {
        guard let id = patch.key["_id"], id != .null else {
            throw Rejection(reason: "collection \(patch.collection): a patch without _id — key the mapping on `_id`")
        }
        return BSONDocument([("_id", try bson(id, patch, "_id"))])
    }

    private func bson(_ value: Value, _ patch: DocumentPatch, _ name: String) throws(Rejection) -> BSONValue {
        do {
            return try MongoValueMapping.bson(value)
        } catch {
            throw Rejection(reason: "collection \(patch.collection), key \(Value.object(patch.key).description), field '\(name)': \(error.reason)")
        }
    }

    private func modifiers(_ set: [String: Value], _ unset: [String], _ patch: DocumentPatch) throws(Rejection) -> BSONDocument? {
        for name in Array(set.keys) + unset where name.utf8.contains(0) || name.isEmpty {
            throw Rejection(reason: "collection \(patch.collection), key \(Value.object(patch.key).description): field name \(name.debugDescription) cannot be stored in MongoDB (empty or with a NUL character) — rename it in the pipeline's mapping")
        }
        var setDoc = BSONDocument()
        for name in set.keys.sorted() where name != "_id" { setDoc.fields.append((name, try bson(set[name]!, patch, name))) }
        var unsetDoc = BSONDocument()
        for name in unset.sorted() where name != "_id" && set[name] == nil { unsetDoc.fields.append((name, .string(""))) }
        var update = BSONDocument()
        if !setDoc.fields.isEmpty { update["$set"] = .document(setDoc) }
        if !unsetDoc.fields.isEmpty { update["$unset"] = .document(unsetDoc) }
        return update.fields.isEmpty ? nil : update
    }

    private func replacement(_ document: [String: Value], _ patch: DocumentPatch) throws(Rejection) -> BSONDocument {
        var content = document
        content["_id"] = nil
        var out: BSONDocument
        do {
            out = try MongoValueMapping.document(attributes: content, nesting: config.nesting)
        } catch {
            throw Rejection(reason: "collection \(patch.collection), key \(Value.object(patch.key).description): \(error.reason)")
        }
        out.fields.insert(("_id", try keyFilter(patch)["_id"]!), at: 0)
        return out
    }

    private func unconditional(_ index: Int, _ patch: DocumentPatch) throws(Rejection) -> Operation? {
        let filter = try keyFilter(patch)
        let op: BSONDocument
        var command = Operation.Command.update
        switch patch.action {
        case let .upsert(set, unset):
            guard let update = try modifiers(set, unset, patch) else {
                // Nothing but the key: make sure the document exists.
                op = BSONDocument([("q", .document(filter)), ("u", .document(BSONDocument([("$setOnInsert", .document(BSONDocument()))]))), ("upsert", .bool(true))])
                return Operation(index: index, collection: patch.collection, command: .update, document: op, size: BSONWriter.bytes(op).count, echo: echo(of: patch))
            }
            op = BSONDocument([("q", .document(filter)), ("u", .document(update)), ("upsert", .bool(true))])
        case let .replace(document):
            op = try replacement(document, patch)
            command = .insert
        case .delete:
            op = BSONDocument([("q", .document(filter)), ("limit", .int32(1))])
            command = .delete
        }
        return Operation(index: index, collection: patch.collection, command: command, document: op, size: BSONWriter.bytes(op).count, echo: echo(of: patch))
    }

    /// Sends the unconditional operations as unordered bulk commands, per collection and kind.
    private func runBulk(_ conn: MongoConnection, _ operations: [Operation], _ patches: [DocumentPatch], _ results: inout [PatchResult]) throws {
        var groups: [String: [Operation]] = [:]
        for op in operations { groups[op.command.rawValue + "\u{0}" + op.collection, default: []].append(op) }
        for key in groups.keys.sorted() {
            let group = groups[key]!
            var start = 0
            while start < group.count {
                var end = start
                var bytes = 0
                while end < group.count, end - start < Self.operationsPerCommand, bytes + group[end].size < Self.bytesPerCommand || end == start {
                    bytes += group[end].size
                    end += 1
                }
                try send(conn, Array(group[start..<end]), patches, &results, attempt: 1)
                start = end
            }
        }
    }

    private func send(_ conn: MongoConnection, _ ops: [Operation], _ patches: [DocumentPatch], _ results: inout [PatchResult], attempt: Int) throws {
        guard let first = ops.first else { return }
        let list = first.command == .insert ? "documents" : first.command.rawValue + "s"
        let command = BSONDocument([(first.command.rawValue, .string(first.collection)),
                                    (list, .array(ops.map { .document($0.document) })),
                                    ("ordered", .bool(false))])
        let reply = try conn.command(command)
        var retry: [Operation] = []
        var failed = Set<Int>()
        if case let .array(errors)? = reply["writeErrors"] {
            for case let .document(e) in errors {
                guard let position = Self.int(e["index"]), position >= 0, position < ops.count else { continue }
                let op = ops[position]
                failed.insert(position)
                let code = Self.int(e["code"]) ?? 0
                var message = "write error \(code)"
                if case let .string(m)? = e["errmsg"] { message = m }
                if op.command == .insert && code == Int(MongoServerError.Code.duplicateKey) {
                    // The document exists: replace it.
                    var update = op
                    update.command = .update
                    update.document = BSONDocument([("q", .document(BSONDocument([("_id", op.document["_id"] ?? .null)]))),
                                                    ("u", .document(op.document)), ("upsert", .bool(true))])
                    retry.append(update)
                } else if (code == Int(MongoServerError.Code.duplicateKey) || code == 112) && attempt < Self.retries {
                    retry.append(op)
                } else {
                    let patch = patches[op.index]
                    results[op.index] = .rejected("collection \(patch.collection), key \(Value.object(patch.key).description): \(message)")
                }
            }
        }
        if case let .document(wce)? = reply["writeConcernError"] {
            var message = "write concern error"
            if case let .string(m)? = wce["errmsg"] { message = m }
            throw ConnectorError(.transient, "\(config.label): \(message) (retrying the batch)")
        }
        for (position, op) in ops.enumerated() where !failed.contains(position) { recordEcho(patches[op.index], op.echo, reply) }
        for kind in [Operation.Command.insert, .update, .delete] {
            let again = retry.filter { $0.command == kind }
            if !again.isEmpty { try send(conn, again, patches, &results, attempt: attempt + 1) }
        }
    }

    static func int(_ v: BSONValue?) -> Int? {
        switch v {
        case let .int32(i)?: Int(i)
        case let .int64(i)?: Int(i)
        case let .double(d)?: Int(exactly: d)
        default: nil
        }
    }

    // MARK: conditional writes (rule 8)

    /// The filter conditions that hold when the field `name` has `value` (nil: absent or null).
    /// Embedded documents are compared by their leaves (field order does not matter).
    private func conditions(_ name: String, _ value: Value?, _ patch: DocumentPatch) throws(Rejection) -> [(String, BSONValue)] {
        guard let value, value != .null else { return [(name, .null)] }
        if case let .object(o) = value, !o.isEmpty, case .document = try bson(value, patch, name) {
            var out: [(String, BSONValue)] = []
            for k in o.keys.sorted() { out += try conditions(name + "." + k, o[k]!, patch) }
            return out
        }
        return [(name, try bson(value, patch, name))]
    }

    /// A conditional write; connection problems propagate (the batch fails and is retried), a
    /// refusal of this document becomes a ``Rejection``.
    private func guarded(_ conn: MongoConnection, _ patch: DocumentPatch) throws -> PatchResult {
        do {
            lastWriteReply = BSONDocument()
            let result = try guardedWrite(conn, patch, attempt: 1)
            if result == .applied { recordEcho(patch, echo(of: patch), lastWriteReply) }
            return result
        } catch let error as MongoServerError {
            if error.isConnectionProblem || error.isAuthentication || error.isUnauthorized { throw error }
            throw Rejection(reason: "collection \(patch.collection), key \(Value.object(patch.key).description): \(error.message)")
        }
    }

    /// The reply of the last write command of a conditional write (for its `operationTime`).
    private var lastWriteReply = BSONDocument()

    private func guardedWrite(_ conn: MongoConnection, _ patch: DocumentPatch, attempt: Int) throws -> PatchResult {
        let expected = patch.expected ?? [:]
        var filter = try keyFilter(patch)
        var allAbsent = true
        for name in expected.keys.sorted() where name != "_id" {
            let v = expected[name]!
            if let v, v != .null { allAbsent = false }
            filter.fields += try conditions(name, v, patch)
        }
        switch patch.action {
        case let .replace(document):
            let doc = try replacement(document, patch)
            if allAbsent {
                return try insertIfMissing(conn, patch, doc)
            }
            let n = try update(conn, patch.collection, filter, .document(doc))
            return n > 0 ? .applied : .guardFailed
        case let .upsert(set, unset):
            if let update = try modifiers(set, unset, patch) {
                let n = try self.update(conn, patch.collection, filter, .document(update))
                if n > 0 { return .applied }
            } else if try count(conn, patch.collection, filter) > 0 {
                return .applied
            }
            guard allAbsent else { return .guardFailed }
            var content = set
            content["_id"] = patch.key["_id"]
            return try insertIfMissing(conn, patch, try replacement(content, patch))
        case .delete:
            let reply = try conn.command(BSONDocument([("delete", .string(patch.collection)),
                                                       ("deletes", .array([.document(BSONDocument([("q", .document(filter)), ("limit", .int32(1))]))]))]))
            try throwWriteError(reply, patch)
            lastWriteReply = reply
            if (Self.int(reply["n"]) ?? 0) > 0 { return .applied }
            return try count(conn, patch.collection, try keyFilter(patch)) == 0 ? .applied : .guardFailed
        }
    }

    private func update(_ conn: MongoConnection, _ collection: String, _ filter: BSONDocument, _ update: BSONValue) throws -> Int {
        let reply = try conn.command(BSONDocument([("update", .string(collection)),
                                                   ("updates", .array([.document(BSONDocument([("q", .document(filter)), ("u", update)]))]))]))
        lastWriteReply = reply
        if case let .array(errors)? = reply["writeErrors"], case let .document(e)? = errors.first {
            var message = "write error"
            if case let .string(m)? = e["errmsg"] { message = m }
            throw Rejection(reason: "collection \(collection): \(message)")
        }
        return Self.int(reply["n"]) ?? 0
    }

    private func count(_ conn: MongoConnection, _ collection: String, _ filter: BSONDocument) throws -> Int {
        let reply = try conn.command(BSONDocument([("count", .string(collection)), ("query", .document(filter)), ("limit", .int32(1))]))
        return Self.int(reply["n"]) ?? 0
    }

    /// Inserts `document` unless its `_id` exists (then the guard failed: a document appeared).
    private func insertIfMissing(_ conn: MongoConnection, _ patch: DocumentPatch, _ document: BSONDocument) throws -> PatchResult {
        let reply = try conn.command(BSONDocument([("insert", .string(patch.collection)), ("documents", .array([.document(document)]))]))
        lastWriteReply = reply
        if case let .array(errors)? = reply["writeErrors"], case let .document(e)? = errors.first {
            if Self.int(e["code"]) == Int(MongoServerError.Code.duplicateKey) { return .guardFailed }
            var message = "write error"
            if case let .string(m)? = e["errmsg"] { message = m }
            throw Rejection(reason: "collection \(patch.collection), key \(Value.object(patch.key).description): \(message)")
        }
        return .applied
    }

    private func throwWriteError(_ reply: BSONDocument, _ patch: DocumentPatch) throws {
        if case let .array(errors)? = reply["writeErrors"], case let .document(e)? = errors.first {
            var message = "write error"
            if case let .string(m)? = e["errmsg"] { message = m }
            throw Rejection(reason: "collection \(patch.collection), key \(Value.object(patch.key).description): \(message)")
        }
    }

    // MARK: read

    func read(_ collection: CollectionSpec, keys: [[String: Value]]) throws -> [[String: Value]?] {
        let conn = try open()
        var ids: [BSONValue] = []
        for key in keys {
            if let id = key["_id"], let b = try? MongoValueMapping.bson(id) { ids.append(b) }
        }
        var out = [[String: Value]?](repeating: nil, count: keys.count)
        if ids.isEmpty { return out }
        let command = BSONDocument([("find", .string(collection.name)),
                                    ("filter", .document(BSONDocument([("_id", .document(BSONDocument([("$in", .array(ids))])))]))),
                                    ("batchSize", .int64(Int64(ids.count))), ("singleBatch", .bool(true))])
        let reply: BSONDocument
        do {
            reply = try conn.command(command)
        } catch {
            drop()
            throw conn.mapped(error, doing: "reading collection '\(collection.name)'")
        }
        guard case let .document(c)? = reply["cursor"], case let .array(batch)? = c["firstBatch"] else { return out }
        var byID = [Value: [String: Value]]()
        for case let .document(d) in batch {
            guard let id = d["_id"] else { continue }
            byID[MongoValueMapping.value(id)] = MongoValueMapping.attributes(d, nesting: config.nesting)
        }
        for (i, key) in keys.enumerated() {
            if let id = key["_id"] { out[i] = byID[id] }
        }
        return out
    }
}
