import CouchDBConnector
import DeltaConnector
import DeltaPipeline
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import SQLiteConnector
import SQLiteSupport

/// `deltabridge-bench couchdb`: CouchDB→SQLite one-way through the real engine — snapshot docs/s,
/// streamed events/s (until applied) and peak RSS — beside the server's own raw `_bulk_docs`
/// rate measured in the same run (the stand-in is Python and bounds the figures; the target is
/// ≥ 0.8 of that rate and ≤ 150 MiB). Options: `--docs N` (default 200,000), `--changes N`
/// (100,000), `--bulk N` (documents per `_bulk_docs`, 1,000), `--url U` (default
/// `DELTABRIDGE_COUCHDB_URL`), `--dir D` (default /tmp).
struct CouchDBBenchmark {
    var options: [String: String]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func int(_ name: String, _ fallback: Int) -> Int { options[name].flatMap { Int($0) } ?? fallback }

    func run() async throws -> [Figure] {
        let docs = int("docs", 200_000)
        let changes = int("changes", 100_000)
        let bulk = max(1, int("bulk", 1_000))
        guard let url = options["url"] ?? ProcessInfo.processInfo.environment["DELTABRIDGE_COUCHDB_URL"], !url.isEmpty else {
            throw Failure(description: "no CouchDB: set DELTABRIDGE_COUCHDB_URL=http://USER:PASS@HOST:PORT or pass --url (scripts/dev-servers.sh ENVFILE couchdb starts the stand-in)")
        }
        let http = try BenchCouch(url: url)
        let db = "bench_\(getpid())"
        let dir = "\(options["dir"] ?? "/tmp")/deltabridge-bench-couchdb-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await http.send("PUT", "/\(db)")
        print("couchdb benchmark: \(format(Double(docs)))-document snapshot, then \(format(Double(changes))) updates streamed (\(bulk) per _bulk_docs)")

        // The server's raw _bulk_docs rate: loading the snapshot's documents.
        var start = now()
        var n = 0
        while n < docs {
            let count = min(bulk, docs - n)
            let batch: [[String: Any]] = (n..<(n + count)).map { i in
                ["_id": String(format: "d%07d", i), "name": "item \(i)", "qty": i % 1000, "price": Double(i) * 0.25,
                 "tags": ["a", "b"], "meta": ["ok": true, "n": i]]
            }
            try await http.send("POST", "/\(db)/_bulk_docs", body: ["docs": batch])
            n += count
        }
        let loadRate = Double(docs) / (now() - start)
        print("  raw _bulk_docs load: \(format(loadRate)) docs/s")

        let schema = "CREATE TABLE IF NOT EXISTS items(id TEXT PRIMARY KEY, name TEXT, qty INTEGER, price REAL, tags TEXT, meta TEXT)"
        let target = try SQLiteDatabase(path: "\(dir)/target.db")
        try target.execute("PRAGMA journal_mode=WAL; \(schema)")
        let yaml = """
        pipeline: bench
        options: { batch_size: \(bulk) }
        stores:
          couch: { type: couchdb, url: "\(url)" }
          target: { type: sqlite, path: target.db }
        flows:
          - name: items
            from: couch
            to: target
            collections:
              - namespace: items
                stores:
                  couch: { collection: \(db), key: _id, rename: { _id: id } }
                  target: { table: items, key: id, json: [tags, meta] }
        """
        try yaml.write(toFile: "\(dir)/bench.yaml", atomically: true, encoding: .utf8)
        let registry = ConnectorRegistry([SQLiteConnectorFactory(), CouchDBConnectorFactory()])
        let config = try PipelineLoader.load(file: "\(dir)/bench.yaml", environment: [:], storeTypes: registry.storeTypes)
        var logger = Logger(label: "bench")
        logger.logLevel = .warning

        resetPeakRSS()
        var engine = try PipelineEngine(config: config, registry: registry, logger: logger)
        start = now()
        let snapshot = try await engine.runOnce()
        let snapshotSeconds = now() - start
        let snapshotRSS = peakRSSMiB()
        let copied = try target.scalarInt("SELECT count(*) FROM items") ?? 0
        print("  snapshot: \(format(Double(snapshot.events))) docs in \(format3(snapshotSeconds)) s, target holds \(format(Double(copied)))")

        // Updates of one attribute, written with _bulk_docs on the current revisions (timed too:
        // the server's update rate).
        var updateSeconds = 0.0
        n = 0
        while n < changes {
            let count = min(bulk, changes - n)
            let ids = (n..<(n + count)).map { String(format: "d%07d", $0 % docs) }
            let current = try await http.send("POST", "/\(db)/_all_docs?include_docs=true", body: ["keys": Array(Set(ids))])
            var updated = [[String: Any]]()
            for row in (current as? [String: Any])?["rows"] as? [[String: Any]] ?? [] {
                guard var doc = row["doc"] as? [String: Any] else { continue }
                doc["qty"] = ((doc["qty"] as? Int) ?? 0) + 1
                updated.append(doc)
            }
            let t = now()
            try await http.send("POST", "/\(db)/_bulk_docs", body: ["docs": updated])
            updateSeconds += now() - t
            n += count
        }
        let updateRate = Double(changes) / updateSeconds
        print("  raw _bulk_docs update: \(format(updateRate)) docs/s")

        resetPeakRSS()
        engine = try PipelineEngine(config: config, registry: registry, logger: logger)
        start = now()
        let stream = try await engine.runOnce()
        let streamSeconds = now() - start
        let streamRSS = peakRSSMiB()
        let sum = try target.scalarInt("SELECT sum(qty) FROM items") ?? -1
        print("  stream: \(format(Double(stream.events))) events in \(format3(streamSeconds)) s, \(stream.deadLetters) dead letters, sum(qty) \(sum)")
        _ = try? await http.send("DELETE", "/\(db)")

        let snapshotRate = Double(snapshot.events) / snapshotSeconds
        let streamRate = Double(stream.events) / streamSeconds
        let rss = max(snapshotRSS, streamRSS)
        return [
            Figure(name: "server raw _bulk_docs load", value: loadRate, unit: "docs/s", target: "reference", met: true),
            Figure(name: "snapshot CouchDB→SQLite", value: snapshotRate, unit: "docs/s", target: "≥ 0.8 × load = \(format(0.8 * loadRate))",
                   met: snapshotRate >= 0.8 * loadRate),
            Figure(name: "server raw _bulk_docs update", value: updateRate, unit: "docs/s", target: "reference", met: true),
            Figure(name: "streaming CouchDB→SQLite", value: streamRate, unit: "events/s", target: "≥ 0.8 × update = \(format(0.8 * updateRate))",
                   met: streamRate >= 0.8 * updateRate),
            Figure(name: "peak RSS (snapshot / stream)", value: rss, unit: "MiB", target: "≤ 150", met: rss <= 150),
        ]
    }
}

/// A minimal JSON-over-HTTP client for the benchmark's own loads (Foundation's URLSession, so
/// the figures compare the connector against an independent client).
struct BenchCouch {
    let base: String
    let authorization: String?

    init(url: String) throws {
        guard var parts = URLComponents(string: url) else { throw CouchDBBenchmark.Failure(description: "'\(url)' is not a URL") }
        authorization = parts.user.map { "Basic " + Data("\($0):\(parts.password ?? "")".utf8).base64EncodedString() }
        parts.user = nil
        parts.password = nil
        base = parts.string ?? url
    }

    @discardableResult
    func send(_ method: String, _ path: String, body: Any? = nil) async throws -> Any? {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.timeoutInterval = 600
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let body { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw CouchDBBenchmark.Failure(description: "\(method) \(path) → HTTP \(status): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
        return data.isEmpty ? nil : try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }
}
