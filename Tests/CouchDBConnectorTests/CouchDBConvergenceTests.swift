import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import SQLiteSupport
import Testing
@testable import CouchDBConnector

/// DESIGN rule 10 with CouchDB: random creates, edits, member removals and deletes on both sides of
/// a CouchDB ↔ SQLite two-way flow, in rounds with engine runs between some of them; when writes
/// stop, both stores hold the same documents with the same values.
///
/// Seeds: fixed ones and one fresh one per run; `DELTABRIDGE_SEED=n` runs only seed n. A failure
/// prints the seed and every operation the test made.
@Suite struct CouchDBConvergenceTests {
    static var seeds: [UInt64] {
        if let text = ProcessInfo.processInfo.environment["DELTABRIDGE_SEED"], let seed = UInt64(text) { return [seed] }
        return [3, 0xC0FFEE, UInt64(Date().timeIntervalSince1970 * 1000) & 0xFFFF_FFFF]
    }

    /// A small deterministic generator.
    struct Rand {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    @Test(arguments: seeds)
    func couchDBAndSQLiteConverge(seed: UInt64) async throws {
        let couch = try CouchDBTestDatabase()
        defer { couch.drop() }
        let dir = try CouchDBTemporaryDirectory()
        let lite = dir.file("lite.db")
        let config = try CouchDBPipeline.load("""
            pipeline: conv
            state_dir: \(dir.file("state"))
            stores:
              couch: { type: couchdb, url: "\(couch.url)" }
              lite:
                type: sqlite
                path: \(lite)
                init_sql: "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT, y INTEGER, j TEXT)"
            flows:
              - name: t
                two_way: [couch, lite]
                collections:
                  - namespace: t
                    stores:
                      couch: { collection: \(couch.name), key: id }
                      lite: { table: t, key: id, json: [j] }
            """, in: dir)
        func run() async throws {
            let s = try await withCouchTimeout(120, "a two-way run") { try await CouchDBPipeline.engine(config).runOnce() }
            #expect(s.stoppedFlows.isEmpty, "seed \(seed): \(s.stoppedFlows)")
            #expect(s.deadLetters == 0, "seed \(seed)")
        }
        try await run()
        let db = try SQLiteDatabase(path: lite)
        var rng = Rand(state: seed)
        var log = [String]()
        for round in 0..<5 {
            for _ in 0..<8 {
                let id = rng.below(6)
                let x: Value = rng.below(4) == 0 ? .null : .string("x\(rng.below(100))")
                let y = Int64(rng.below(1000))
                let j: Value = rng.below(3) == 0 ? .null : .object(["k": .array([.int(Int64(rng.below(9))), .bool(true)])])
                switch rng.below(5) {
                case 0:
                    log.append("couch delete \(id)")
                    try couch.delete(String(id))
                case 1, 2:
                    var body: [String: Value] = ["id": .int(Int64(id)), "y": .int(y)]
                    if rng.below(2) == 0 { body["x"] = x }
                    if rng.below(2) == 0 { body["j"] = j }
                    log.append("couch put \(id) \(Value.object(body))")
                    try couch.put(String(id), body)
                case 3:
                    log.append("lite delete \(id)")
                    try db.prepare("DELETE FROM t WHERE id = ?").run([.int(Int64(id))])
                default:
                    let jText: SQLiteStatement.Binding = j == .null ? .null : .text(j.description)
                    let xBind: SQLiteStatement.Binding = { if case let .string(s) = x { return .text(s) }; return .null }()
                    log.append("lite upsert \(id) x=\(x) y=\(y) j=\(j)")
                    try db.prepare("INSERT INTO t(id, x, y, j) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET x = excluded.x, y = excluded.y, j = excluded.j")
                        .run([.int(Int64(id)), xBind, .int(y), jText])
                }
            }
            if rng.below(3) != 0 {
                log.append("-- run after round \(round)")
                try await run()
            }
        }
        for _ in 0..<3 { try await run() }

        // Compare: SQLite rows vs CouchDB documents (a missing member equals NULL in SQLite).
        var liteRows = [Int64: [String: Value]]()
        let s = try db.prepare("SELECT id, x, y, j FROM t")
        while try s.step() {
            var row = [String: Value]()
            if !s.isNull(1) { row["x"] = .string(s.text(1)) }
            if !s.isNull(2) { row["y"] = .int(s.int64(2)) }
            if !s.isNull(3) { row["j"] = try JSONCodec.parse(s.text(3)) }
            liteRows[s.int64(0)] = row
        }
        var couchRows = [Int64: [String: Value]]()
        for id in 0..<6 {
            guard var doc = try couch.content(String(id)) else { continue }
            doc["id"] = nil
            couchRows[Int64(id)] = doc.filter { $0.value != .null }
        }
        #expect(liteRows == couchRows, "seed \(seed) diverged:\nSQLite \(liteRows)\nCouchDB \(couchRows)\n\(log.joined(separator: "\n"))")
    }
}
