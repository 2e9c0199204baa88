import DeltaConnector
import DeltaCore

/// The CouchDB HTTP API calls the connector uses (database info, `_all_docs`, `_changes`,
/// `_bulk_docs`, `open_revs`, `_local` documents), with answers parsed and failures mapped to
/// one-line ``ConnectorError``s. Blocking: used only from one ``BlockingWorker``.
///
/// Invariant: every method either returns the parsed answer of a successful request or throws a
/// ``ConnectorError`` naming the store, the operation and the fix.
final class CouchDBClient: @unchecked Sendable {
    let config: CouchDBStoreConfig
    private var http: CouchDBHTTP

    init(config: CouchDBStoreConfig) {
        self.config = config
        self.http = CouchDBHTTP(server: config.server)
    }

    /// Sends a request and returns status and JSON body; statuses outside `accept` throw.
    @discardableResult
    func send(_ method: String, _ path: String, body: Value? = nil, doing: String, database: String? = nil,
              accept: Set<Int> = [200, 201, 202], timeout: Int = 120) throws -> (status: Int, json: Value) {
        let r: CouchDBResponse
        do {
            r = try http.request(method, path, body: body, timeout: timeout)
        } catch let e as CouchDBTransportError {
            http = CouchDBHTTP(server: config.server)  // a fresh connection next time
            throw CouchDBErrors.transport(e, server: config.server, label: config.label, doing: doing)
        }
        guard accept.contains(r.status) else {
            throw CouchDBErrors.http(r, server: config.server, label: config.label, doing: doing, database: database)
        }
        return (r.status, try r.json())
    }

    /// `GET /db`: the database's info (`update_seq`, `doc_count`, ...); nil when it does not exist.
    func databaseInfo(_ db: String) throws -> [String: Value]? {
        let r = try send("GET", CouchDBStoreConfig.path(db), doing: "reading database '\(db)'", database: db, accept: [200, 404])
        if r.status == 404 { return nil }
        return r.json.objectValue ?? [:]
    }

    /// The info of a database that must exist (created first when the store allows it).
    func requireDatabase(_ db: String) throws -> [String: Value] {
        if let info = try databaseInfo(db) { return info }
        if config.create {
            try send("PUT", CouchDBStoreConfig.path(db), doing: "creating database '\(db)'", database: db, accept: [201, 202, 412])
            if let info = try databaseInfo(db) { return info }
        }
        throw ConnectorError(.permanent, "\(config.label)\(config.location.isEmpty ? "" : " (\(config.location))"): database '\(db)' does not exist on \(config.server.baseURL) — create it (PUT /\(db)), fix the collection name, or set `create: true` on the store")
    }

    /// The database's `update_seq`, verbatim.
    func updateSeq(_ db: String) throws -> String {
        let info = try requireDatabase(db)
        return CouchDBChangesPage.seqText(info["update_seq"]) ?? "0"
    }

    /// `POST /db/_all_docs?include_docs=true&conflicts=true` for `ids`: the current winning
    /// document of each id (nil when missing), and the rev of deleted ones.
    func current(_ db: String, ids: [String]) throws -> [String: CouchDBCurrentDocument] {
        if ids.isEmpty { return [:] }
        let body = Value.object(["keys": .array(ids.map { .string($0) })])
        let r = try send("POST", CouchDBStoreConfig.path(db) + "/_all_docs?include_docs=true&conflicts=true", body: body,
                         doing: "reading documents of '\(db)'", database: db)
        var out = [String: CouchDBCurrentDocument]()
        for row in r.json.objectValue?["rows"]?.arrayValue ?? [] {
            guard let o = row.objectValue, case let .string(id)? = o["id"] ?? o["key"] else { continue }
            if let doc = o["doc"]?.objectValue {
                out[id] = CouchDBCurrentDocument(rev: doc["_rev"]?.stringValue, body: doc, deleted: false)
            } else if let value = o["value"]?.objectValue, value["deleted"] == .bool(true) {
                out[id] = CouchDBCurrentDocument(rev: value["rev"]?.stringValue, body: nil, deleted: true)
            }
        }
        return out
    }

    /// `POST /db/_bulk_docs`: one result object per document, in order.
    func bulkDocs(_ db: String, _ docs: [Value]) throws -> [[String: Value]] {
        if docs.isEmpty { return [] }
        let r = try send("POST", CouchDBStoreConfig.path(db) + "/_bulk_docs", body: .object(["docs": .array(docs)]),
                         doing: "writing documents to '\(db)'", database: db)
        return (r.json.arrayValue ?? []).map { $0.objectValue ?? [:] }
    }

    /// `GET /db/id?open_revs=all`: every leaf revision's body that is still available.
    func leaves(_ db: String, id: String) throws -> [[String: Value]] {
        let r = try send("GET", CouchDBStoreConfig.path(db, id) + "?open_revs=all&revs=true", doing: "reading the leaves of '\(id)' in '\(db)'",
                         database: db, accept: [200, 404])
        if r.status == 404 { return [] }
        return (r.json.arrayValue ?? []).compactMap { $0.objectValue?["ok"]?.objectValue }
    }

    /// `GET /db/id?rev=R`: one revision's body; nil when it is missing (compacted) or unknown.
    func revision(_ db: String, id: String, rev: String) throws -> [String: Value]? {
        let r = try send("GET", CouchDBStoreConfig.path(db, id) + CouchDBStoreConfig.query([("rev", rev)]),
                         doing: "reading revision \(rev) of '\(id)' in '\(db)'", database: db, accept: [200, 404])
        return r.status == 404 ? nil : r.json.objectValue
    }

    /// One page of `_changes` after `since`: `longpoll` waits up to `timeout` seconds for a
    /// change when there is none, `normal` answers at once.
    func changes(_ db: String, since: String, limit: Int, longpoll: Bool, timeoutMs: Int) throws -> CouchDBChangesPage {
        var items: [(String, String)] = [("style", "all_docs"), ("include_docs", "true"), ("conflicts", "true"), ("since", since), ("limit", String(limit))]
        if longpoll { items += [("feed", "longpoll"), ("timeout", String(timeoutMs))] }
        let r = try send("GET", CouchDBStoreConfig.path(db) + "/_changes" + CouchDBStoreConfig.query(items),
                         doing: "reading the changes of '\(db)'", database: db, timeout: timeoutMs / 1_000 + 60)
        return try CouchDBChangesPage(r.json, database: db)
    }

    /// How many documents changed after `since` (`pending` of an empty `_changes` page).
    func pending(_ db: String, since: String) throws -> Int64 {
        let r = try send("GET", CouchDBStoreConfig.path(db) + "/_changes" + CouchDBStoreConfig.query([("since", since), ("limit", "0")]),
                         doing: "counting the changes of '\(db)'", database: db)
        if case let .int(n)? = r.json.objectValue?["pending"] { return n }
        return 0
    }
}

/// What `_all_docs` says about one document: its winning rev and body (nil when deleted).
struct CouchDBCurrentDocument: Sendable {
    var rev: String?
    var body: [String: Value]?
    var deleted: Bool
}

extension Value {
    var objectValue: [String: Value]? { if case let .object(o) = self { return o }; return nil }
    var arrayValue: [Value]? { if case let .array(a) = self { return a }; return nil }
    var stringValue: String? { if case let .string(s) = self { return s }; return nil }
}
