import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SQLiteSupport
import Testing

/// The `deltabridge` binary with a CouchDB store (DELTABRIDGE_COUCHDB_URL; the test command starts
/// the stand-in): one-way into SQLite, two-way with conflicting edits, echo suppression, `kill -9`
/// and resume, wrong credentials.
@Suite
struct CouchDBEndToEndTests {
    static let schema = "CREATE TABLE IF NOT EXISTS people(id TEXT PRIMARY KEY, name TEXT, city TEXT, n INTEGER, prefs TEXT)"

    /// A pipeline between database `db` of the CouchDB at `url` and `lite.db`.
    static func pipeline(_ name: String, url: String, db: String, twoWay: Bool, options: String = "") -> String {
        """
        pipeline: \(name)
        \(options)
        stores:
          couch:
            type: couchdb
            url: "\(url)"
          lite:
            type: sqlite
            path: lite.db
            init_sql: "\(schema)"
        flows:
          - name: people
            \(twoWay ? "two_way: [couch, lite]" : "from: couch\n    to: lite")
            collections:
              - namespace: people
                stores:
                  couch: { collection: \(db), key: _id, rename: { _id: id } }
                  lite: { table: people, key: id, json: prefs }
        """
    }

    @Test func oneWayIntoSQLiteWithNestedJSONDeletesAndRecreates() async throws {
        let couch = try await CouchE2E.make()
        defer { couch.drop() }
        let box = try Sandbox()
        try await couch.put("a", ["name": "Zoë ✓", "n": 1, "prefs": ["theme": "dark", "list": [1, 2.5, NSNull()] as [Any]]])
        try await couch.put("b", ["name": "Bo", "city": NSNull()])
        try await couch.put("_design/x", ["language": "javascript"])
        let file = try box.write("one.yaml", Self.pipeline("one", url: couch.url, db: couch.db, twoWay: false))
        let first = try await runOnce(file, "one", in: box)
        #expect(first.deadLetters == 0)
        let lite = box.file("lite.db")
        #expect(try DB.table(lite, "people") == [
            [t("a"), t("Zoë ✓"), .null, i(1), t(#"{"list":[1,2.5,null],"theme":"dark"}"#)],
            [t("b"), t("Bo"), .null, .null, .null],
        ])
        try await couch.delete("b")
        try await couch.put("a", ["name": "Zoë", "n": 2])
        try await couch.put("c", ["name": "Cy"])
        _ = try await runOnce(file, "one", in: box)
        #expect(try DB.table(lite, "people") == [[t("a"), t("Zoë"), .null, i(2), .null], [t("c"), t("Cy"), .null, .null, .null]])
        try await couch.put("b", ["name": "Bo again"])
        _ = try await runOnce(file, "one", in: box)
        #expect(try DB.rows(lite, "SELECT name FROM people WHERE id = 'b'") == [[t("Bo again")]])
        let quiet = try await runOnce(file, "one", in: box)
        #expect(quiet.events == 0 && quiet.writes == 0)
    }

    @Test func twoWayConflictingEditsConvergeAndEchoesAreNotChanges() async throws {
        let couch = try await CouchE2E.make()
        defer { couch.drop() }
        let box = try Sandbox()
        try await couch.put("1", ["name": "Ada", "city": "London", "n": 1])
        let file = try box.write("two.yaml", Self.pipeline("two", url: couch.url, db: couch.db, twoWay: true))
        _ = try await runOnceUntilQuiet(file, "two", in: box)
        let lite = box.file("lite.db")
        try DB.exec(lite, "INSERT INTO people(id, name, city, n) VALUES ('2', 'Brian', 'Paris', 2)")
        _ = try await runOnceUntilQuiet(file, "two", in: box)
        #expect(try await couch.content("2") == ["name": "Brian", "city": "Paris", "n": 2, "prefs": NSNull()] as NSDictionary)

        // Different attributes edited on both sides both survive (rule 1); the same attribute
        // edited on both goes to the later observation (SQLite first, CouchDB after).
        try DB.exec(lite, "UPDATE people SET city = 'Cambridge', name = 'Ada (lite)' WHERE id = '1'")
        try await couch.update("1") { doc in
            doc["name"] = "Ada (couch)"
            doc["n"] = 10
        }
        let runs = try await runOnceUntilQuiet(file, "two", in: box)
        #expect(runs.last?.writes == 0)
        #expect(try DB.rows(lite, "SELECT name, city, n FROM people WHERE id = '1'") == [[t("Ada (couch)"), t("Cambridge"), i(10)]])
        #expect(try await couch.content("1") == ["name": "Ada (couch)", "city": "Cambridge", "n": 10, "prefs": NSNull()] as NSDictionary)

        // Echo suppression: the bridge's own writes come back without new revisions or writes.
        let revs = try await [couch.rev("1"), couch.rev("2")]
        let quiet = try await runOnce(file, "two", in: box)
        #expect(quiet.deltas == 0 && quiet.writes == 0)
        #expect(try await [couch.rev("1"), couch.rev("2")] == revs)
    }

    @Test func theDaemonSuppressesEchoesWhileFollowingBothSides() async throws {
        let couch = try await CouchE2E.make()
        defer { couch.drop() }
        let box = try Sandbox()
        let file = try box.write("live.yaml", Self.pipeline("live", url: couch.url, db: couch.db, twoWay: true))
        _ = try await runOnce(file, "live", in: box)
        let daemon = try Daemon(file, in: box)
        let lite = box.file("lite.db")
        try await couch.put("c1", ["name": "from couch"])
        try await eventually("c1 in SQLite", detail: { daemon.stderr }) {
            try DB.rows(lite, "SELECT name FROM people WHERE id = 'c1'") == [[t("from couch")]]
        }
        try DB.exec(lite, "INSERT INTO people(id, name) VALUES ('l1', 'from lite')")
        try await eventually("l1 in CouchDB", detail: { daemon.stderr }) { try await couch.content("l1")?["name"] as? String == "from lite" }
        // A marker written last on each side: once it has crossed, every earlier echo was read.
        try await couch.put("marker", ["name": "m"])
        try await eventually("the marker in SQLite") { try DB.rows(lite, "SELECT name FROM people WHERE id = 'marker'") == [[t("m")]] }
        try DB.exec(lite, "UPDATE people SET city = 'x' WHERE id = 'marker'")
        try await eventually("the marker's edit in CouchDB") { try await couch.content("marker")?["city"] as? String == "x" }
        let revs = try await [couch.rev("c1"), couch.rev("l1"), couch.rev("marker")]
        let stopped = try await daemon.terminate()
        #expect(stopped.exitCode == 0, "\(stopped)")
        #expect(try await [couch.rev("c1"), couch.rev("l1"), couch.rev("marker")] == revs, "no echo came back as a new write")
        let after = try await runOnce(file, "live", in: box)
        #expect(after.writes == 0 && after.deltas == 0)
    }

    @Test func killNineThenRestartResumesFromTheCheckpoint() async throws {
        let couch = try await CouchE2E.make()
        defer { couch.drop() }
        let box = try Sandbox()
        let file = try box.write("crash.yaml", Self.pipeline("crash", url: couch.url, db: couch.db, twoWay: false, options: "options: { history: true, batch_size: 10 }"))
        _ = try await runOnce(file, "crash", in: box)
        let lite = box.file("lite.db")
        let daemon = try Daemon(file, in: box)
        let total = 150
        let writer = Task {
            for n in 0..<total {
                try await couch.put(String(format: "d%03d", n), ["n": n])
            }
        }
        try await eventually("some documents in SQLite", timeout: 60) { (try DB.int(lite, "SELECT count(*) FROM people") ?? 0) >= 20 }
        let crashed = try await daemon.crash()
        #expect(crashed.signalled)
        try await writer.value
        let restarted = try Daemon(file, in: box)
        try await eventually("all \(total) documents after the restart", timeout: 90, detail: { restarted.stderr }) {
            (try DB.int(lite, "SELECT count(*) FROM people") ?? 0) == Int64(total)
        }
        _ = try await restarted.terminate()
        #expect(try DB.int(lite, "SELECT sum(n) FROM people") == Int64(total * (total - 1) / 2))
        // Nothing recorded twice: one delta per document in the ledger's history.
        let ledger = ledgerPath(box, "crash")
        let maxPerDoc = try DB.int(ledger, "SELECT max(c) FROM (SELECT count(*) AS c FROM history WHERE name = 'n' GROUP BY key)")
        #expect(maxPerDoc == 1 || maxPerDoc == nil)
        let lag = try await lagRows(file, in: box)
        #expect(lag.rows.first?.int("events_behind") == 0, "\(lag.text)")
    }

    @Test func wrongCredentialsGiveOneLineNamingTheFix() async throws {
        let couch = try await CouchE2E.make()
        defer { couch.drop() }
        let box = try Sandbox()
        let badURL = couch.urlWith(user: "nobody_e2e", password: "Pa55_not_it")
        let file = try box.write("bad.yaml", Self.pipeline("bad", url: badURL, db: couch.db, twoWay: false))
        let r = try await deltabridge(["validate", file], in: box)
        #expect(r.exitCode != 0)
        let lines = r.stderrLines.filter { $0.contains("401") }
        #expect(lines.count >= 1, "\(r)")
        #expect(lines.allSatisfy { $0.contains("the user and password") && !$0.contains("Pa55_not_it") }, "\(r)")
    }
}

/// A CouchDB database of its own for one end-to-end test, spoken to over HTTP as an application.
final class CouchE2E: @unchecked Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "DELTABRIDGE_COUCHDB_URL is not set: the CouchDB end-to-end tests need a server — run them through scripts/test.sh, or `scripts/dev-servers.sh ENVFILE couchdb` and source ENVFILE, or set DELTABRIDGE_COUCHDB_URL=http://USER:PASS@HOST:PORT (DELTABRIDGE_SKIP_COUCHDB=1 skips them explicitly)"
        }
    }

    let url: String
    let db: String
    let base: URL
    let authorization: String?

    private init(url: String, db: String, base: URL, authorization: String?) {
        self.url = url
        self.db = db
        self.base = base
        self.authorization = authorization
    }

    /// Creates the test's database.
    static func make() async throws -> CouchE2E {
        guard let url = ProcessInfo.processInfo.environment["DELTABRIDGE_COUCHDB_URL"], !url.isEmpty, var parts = URLComponents(string: url) else { throw Missing() }
        let db = "e2e_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        var authorization: String?
        if let user = parts.user {
            authorization = "Basic " + Data("\(user):\(parts.password ?? "")".utf8).base64EncodedString()
        }
        parts.user = nil
        parts.password = nil
        let couch = CouchE2E(url: url, db: db, base: parts.url!, authorization: authorization)
        try await couch.request("PUT", "/\(db)", expect: [201, 202])
        return couch
    }

    /// The URL with other credentials.
    func urlWith(user: String, password: String) -> String {
        var parts = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        parts.user = user
        parts.password = password
        return parts.string!
    }

    @discardableResult
    func request(_ method: String, _ path: String, body: Any? = nil, expect: Set<Int> = [200, 201, 202]) async throws -> (Int, Any?) {
        var req = URLRequest(url: URL(string: base.absoluteString + path)!)
        req.httpMethod = method
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let authorization { req.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let body { req.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response) = try await URLSession.shared.data(for: req)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard expect.contains(status) else { throw E2EFailure("\(method) \(path) → \(status): \(String(decoding: data, as: UTF8.self))") }
        return (status, data.isEmpty ? nil : try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    func path(_ id: String) -> String {
        "/\(db)/" + (id.hasPrefix("_design/") ? "_design/" + String(id.dropFirst(8)) : id.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
    }

    func get(_ id: String) async throws -> [String: Any]? {
        let (status, body) = try await request("GET", path(id), expect: [200, 404])
        return status == 404 ? nil : body as? [String: Any]
    }

    func rev(_ id: String) async throws -> String? { try await get(id)?["_rev"] as? String }

    /// The document without `_id`/`_rev`.
    func content(_ id: String) async throws -> NSDictionary? {
        guard let doc = try await get(id) else { return nil }
        return doc.filter { !$0.key.hasPrefix("_") } as NSDictionary
    }

    /// Creates or overwrites a document (on its current revision).
    func put(_ id: String, _ body: [String: Any]) async throws {
        var doc = body
        if let rev = try await rev(id) { doc["_rev"] = rev }
        try await request("PUT", path(id), body: doc)
    }

    /// Edits a document in place.
    func update(_ id: String, _ edit: (inout [String: Any]) -> Void) async throws {
        guard var doc = try await get(id) else { throw E2EFailure("no document \(id)") }
        edit(&doc)
        try await request("PUT", path(id), body: doc)
    }

    func delete(_ id: String) async throws {
        guard let rev = try await rev(id) else { return }
        try await request("DELETE", path(id) + "?rev=\(rev)")
    }

    /// Deletes the test's database (in the background: `defer` cannot await).
    func drop() {
        Task { [self] in _ = try? await request("DELETE", "/\(db)", expect: [200, 202, 404]) }
    }
}
