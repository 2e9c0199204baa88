import DeltaConnector
import DeltaPipeline
import Foundation
import Logging
import SQLiteConnector
import SQLiteSupport

/// `deltabridge-bench sqlite`: SQLite→SQLite one-way through the real engine — snapshot rows/s,
/// streamed events/s (end to end, until applied), and peak RSS of each phase (issue 3's targets).
struct SQLiteBenchmark {
    var rows = 1_000_000
    var changes = 300_000
    var directory = "/tmp"

    func run() async throws -> [Figure] {
        let dir = "\(directory)/deltabridge-bench-sqlite-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        print("sqlite benchmark: \(format(Double(rows)))-row snapshot, then \(format(Double(changes))) mixed changes streamed")

        let schema = "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, tags TEXT)"
        let source = try SQLiteDatabase(path: "\(dir)/source.db")
        try source.execute("PRAGMA journal_mode=WAL; \(schema)")
        try source.transaction {
            let insert = try source.prepare("INSERT INTO items(id, name, qty, price, tags) VALUES (?, ?, ?, ?, ?)")
            for i in 0..<rows {
                try insert.run([.int(Int64(i)), .text("item \(i)"), .int(Int64(i % 1000)), .double(Double(i) * 0.25), .text(#"["a","b"]"#)])
            }
        }
        let target = try SQLiteDatabase(path: "\(dir)/target.db")
        try target.execute("PRAGMA journal_mode=WAL; \(schema)")

        let pipeline = try BenchPipeline(directory: dir, source: "{ type: sqlite, path: source.db }", target: "{ type: sqlite, path: target.db }")

        print("  snapshot: starting")
        resetPeakRSS()
        var engine = try pipeline.engine()
        var start = now()
        var cpuStart = processCPUSeconds()
        let snapshot = try await engine.runOnce()
        let snapshotSeconds = now() - start
        let snapshotCPU = processCPUSeconds() - cpuStart
        let snapshotRSS = peakRSSMiB()
        let copied = try target.scalarInt("SELECT count(*) FROM items") ?? 0
        print("  snapshot: \(format(Double(snapshot.events))) rows in \(format3(snapshotSeconds)) s (CPU \(format3(snapshotCPU)) s), target holds \(format(Double(copied)))")

        // Mixed changes: 2/3 updates of one column, 2/9 inserts, 1/9 deletes, in transactions of 1,000.
        let updates = changes * 2 / 3
        let inserts = changes * 2 / 9
        let deletes = changes - updates - inserts
        try source.transaction {
            let update = try source.prepare("UPDATE items SET qty = qty + 1 WHERE id = ?")
            for i in 0..<updates { try update.run([.int(Int64(i * 3 % rows))]) }
            let insert = try source.prepare("INSERT INTO items(id, name, qty, price, tags) VALUES (?, ?, ?, ?, ?)")
            for i in 0..<inserts { try insert.run([.int(Int64(rows + i)), .text("new \(i)"), .int(1), .double(1.5), .null]) }
            let delete = try source.prepare("DELETE FROM items WHERE id = ?")
            for i in 0..<deletes { try delete.run([.int(Int64(i * 7 % rows + 1))]) }
        }
        print("  stream: starting")
        resetPeakRSS()
        engine = try pipeline.engine()
        start = now()
        cpuStart = processCPUSeconds()
        let stream = try await engine.runOnce()
        let streamSeconds = now() - start
        let streamCPU = processCPUSeconds() - cpuStart
        let streamRSS = peakRSSMiB()
        let sourceCount = try source.scalarInt("SELECT count(*) FROM items") ?? -1
        let targetCount = try target.scalarInt("SELECT count(*) FROM items") ?? -2
        print("  stream: \(format(Double(stream.events))) events in \(format3(streamSeconds)) s (CPU \(format3(streamCPU)) s); rows source \(format(Double(sourceCount))), target \(format(Double(targetCount)))")
        if sourceCount != targetCount { print("  WARNING: source and target differ after the stream") }

        let snapshotRate = Double(snapshot.events) / snapshotSeconds
        let streamRate = Double(stream.events) / streamSeconds
        let rss = max(snapshotRSS, streamRSS)
        return [
            Figure(name: "snapshot SQLite→SQLite", value: snapshotRate, unit: "rows/s", target: "≥ 150,000", met: snapshotRate >= 150_000),
            Figure(name: "streaming SQLite→SQLite", value: streamRate, unit: "events/s", target: "≥ 60,000", met: streamRate >= 60_000),
            Figure(name: "peak RSS (snapshot / stream)", value: rss, unit: "MiB", target: "≤ 150", met: rss <= 150),
        ]
    }
}
