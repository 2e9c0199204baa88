import DeltaConnector
import DeltaPipeline
import Foundation
import Logging
import MariaDBConnector
import PostgresConnector
import SQLiteConnector
import SQLiteSupport

/// `deltabridge-bench mariadb`: MariaDB→PostgreSQL one-way through the real engine and the real
/// `deltabridge` connectors (issue 5's figures): snapshot rows/s, a backlog of mixed changes
/// streamed until applied (events/s), lag p50/p99 while an application writes at a steady rate, and
/// peak RSS. Servers: `DELTABRIDGE_MARIADB_URL` and `DELTABRIDGE_PG_URL` (or `--mariadb-url`,
/// `--pg-url`); data is loaded with the `mariadb` and `psql` clients into databases of its own,
/// dropped afterwards. Options: `--rows` (1,000,000), `--changes` (350,000), `--lag-rate`
/// (5,000 changes/s), `--lag-seconds` (20).
struct MariaDBBenchmark {
    var options: [String: String]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let text = options[name] else { return fallback }
        guard let n = Int(text.filter { $0 != "_" && $0 != "," }), n > 0 else { throw Failure(description: "--\(name) needs a positive whole number, got \(text)") }
        return n
    }

    func run() async throws -> [Figure] {
        let rows = try int("rows", 1_000_000)
        let changes = try int("changes", 350_000)
        let lagRate = try int("lag-rate", 5_000)
        let lagSeconds = try int("lag-seconds", 20)
        let env = ProcessInfo.processInfo.environment
        guard let mariaText = options["mariadb-url"] ?? env["DELTABRIDGE_MARIADB_URL"], case let .success(mariaURL) = MariaDBURL.parse(mariaText) else {
            throw Failure(description: "set DELTABRIDGE_MARIADB_URL (mysql://user@host:port/) or pass --mariadb-url")
        }
        let targetKind = options["target"] ?? "postgres"
        guard targetKind == "postgres" || targetKind == "sqlite" else { throw Failure(description: "--target is postgres or sqlite, got \(targetKind)") }
        let pgBase = options["pg-url"] ?? env["DELTABRIDGE_PG_URL"] ?? ""
        if targetKind == "postgres" && pgBase.isEmpty {
            throw Failure(description: "set DELTABRIDGE_PG_URL (postgresql://user@host:port/db) or pass --pg-url (or use --target sqlite)")
        }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let database = "bench_" + suffix
        let maria = MariaClient(url: mariaURL)
        let dir = "\(options["dir"] ?? "/tmp")/deltabridge-bench-mariadb-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let target: BenchTarget = targetKind == "postgres" ? .postgres(PGClient(url: PGClient.url(pgBase, database: database)), admin: PGClient(url: pgBase))
                                                           : .sqlite(path: dir + "/target.db")
        try maria.run("CREATE DATABASE \(database)")
        try target.create(database)
        defer {
            _ = try? maria.run("DROP DATABASE IF EXISTS \(database)")
            target.drop(database)
            try? FileManager.default.removeItem(atPath: dir)
        }
        print("mariadb benchmark: \(format(Double(rows)))-row snapshot, \(format(Double(changes))) mixed changes streamed, lag at \(format(Double(lagRate))) changes/s for \(lagSeconds) s (MariaDB → \(target.name))")

        try maria.run("""
            USE \(database);
            CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40), qty INT, price DECIMAL(12,2), tags JSON, written_at DATETIME(6));
            INSERT INTO items SELECT seq, CONCAT('item ', seq), seq % 1000, seq * 0.25, '["a","b"]', NULL FROM seq_0_to_\(rows - 1);
            """)
        try target.createTable()

        let pipeline = try BenchPipeline(directory: dir,
                                         source: "{ type: mariadb, url: \"mysql://\(mariaURL.user)\(mariaURL.password.map { ":" + $0 } ?? "")@\(mariaURL.host):\(mariaURL.port)/\(database)\" }",
                                         target: target.storeYAML, verbose: options["verbose"] != nil)

        // 0. The connector alone (no engine, no target): snapshot read rate.
        let storeURL = MariaDBURL(user: mariaURL.user, password: mariaURL.password, host: mariaURL.host, port: mariaURL.port, database: database)
        let alone = MariaDBSource(config: MariaDBStoreConfig(store: "alone", url: storeURL), batchLimit: 5000)
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        var start = now()
        let (read, snapshotPosition) = try await readWholeSnapshot(alone, spec)
        let aloneSnapshotRate = Double(read) / (now() - start)
        print("  connector alone: snapshot read \(format(Double(read))) rows at \(format(aloneSnapshotRate)) rows/s")

        // 1. Snapshot.
        resetPeakRSS()
        var engine = try pipeline.engine()
        start = now()
        let snapshot = try await engine.runOnce()
        let snapshotSeconds = now() - start
        let snapshotRSS = peakRSSMiB()
        print("  snapshot: \(format(Double(snapshot.events))) rows in \(format3(snapshotSeconds)) s (peak RSS \(format(snapshotRSS)) MiB), target holds \(try target.scalar("SELECT count(*) FROM items"))")

        // 2. A backlog of mixed changes in transactions of 1,000 rows: 2/3 updates of one column,
        // 2/9 inserts, 1/9 deletes; then streamed until applied.
        let updates = changes * 2 / 3
        let inserts = changes * 2 / 9
        let deletes = changes - updates - inserts
        var script = "USE \(database);\n"
        for a in stride(from: 0, to: updates, by: 1000) { script += "UPDATE items SET qty = qty + 1 WHERE id >= \(a) AND id < \(min(updates, a + 1000));\n" }
        for a in stride(from: 0, to: inserts, by: 1000) {
            script += "INSERT INTO items (id, name, qty, price) SELECT \(rows) + seq, CONCAT('new ', seq), 1, 1.5 FROM seq_\(a)_to_\(min(inserts, a + 1000) - 1);\n"
        }
        for a in stride(from: 0, to: deletes, by: 1000) {
            script += "DELETE FROM items WHERE id >= \(updates + a) AND id < \(updates + min(deletes, a + 1000));\n"
        }
        try maria.run(script)
        start = now()
        var decoded = 0
        for try await batch in alone.changes(of: [spec], after: snapshotPosition, follow: false) { decoded += batch.changes.count }
        let aloneStreamRate = Double(decoded) / (now() - start)
        print("  connector alone: binlog read and decoded \(format(Double(decoded))) changes at \(format(aloneStreamRate)) changes/s")
        resetPeakRSS()
        engine = try pipeline.engine()
        start = now()
        let stream = try await engine.runOnce()
        let streamSeconds = now() - start
        let streamRSS = peakRSSMiB()
        let sourceCount = try maria.scalar("SELECT count(*) FROM \(database).items")
        let targetCount = try target.scalar("SELECT count(*) FROM items")
        print("  stream: \(format(Double(stream.events))) events in \(format3(streamSeconds)) s (peak RSS \(format(streamRSS)) MiB); rows source \(sourceCount), target \(targetCount)")
        if sourceCount != targetCount { print("  WARNING: source and target differ after the stream") }

        // 3. Lag while the application inserts at a steady rate (rows stamped with their write
        // time; the target stamps its insert time): p50/p99 of applied_at - written_at.
        resetPeakRSS()
        engine = try pipeline.engine()
        let daemon = engine
        let running = Task {
            do { try await daemon.run() } catch { print("  daemon stopped: \(error)") }
        }
        let perTick = max(1, lagRate / 10)
        // Paced against the start time, so statement time does not slow the rate down.
        var lagScript = "USE \(database);\nSET @t0 = UNIX_TIMESTAMP(NOW(6));\n"
        let base = rows + inserts + 1
        for tick in 0..<(lagSeconds * 10) {
            let from = base + tick * perTick
            lagScript += "INSERT INTO items (id, name, qty, written_at) SELECT \(from) + seq, 'lag', 0, NOW(6) FROM seq_0_to_\(perTick - 1); DO SLEEP(GREATEST(0, @t0 + \(Double(tick + 1) / 10) - UNIX_TIMESTAMP(NOW(6))));\n"
        }
        let writeStart = now()
        try maria.run(lagScript)
        let writeSeconds = now() - writeStart
        let expected = lagSeconds * 10 * perTick
        let deadline = now() + 60
        while now() < deadline, (Int(try target.scalar("SELECT count(*) FROM items WHERE name = 'lag'")) ?? 0) < expected {
            try await Task.sleep(for: .milliseconds(100))
        }
        running.cancel()
        await running.value
        let lagRSS = peakRSSMiB()
        let samples = try target.lagSamples().sorted()
        let arrived = samples.count
        guard arrived > 0 else { throw Failure(description: "no lag samples arrived in \(target.name) (0 of \(expected) rows)") }
        let p50 = samples[min(arrived - 1, arrived / 2)], p99 = samples[min(arrived - 1, Int(Double(arrived) * 0.99))]
        print("  lag: \(format(Double(expected))) inserts at \(format(Double(expected) / writeSeconds)) changes/s; \(format(Double(arrived))) arrived; p50 \(format3(p50)) s, p99 \(format3(p99)) s (peak RSS \(format(lagRSS)) MiB)")

        let snapshotRate = Double(snapshot.events) / snapshotSeconds
        let streamRate = Double(stream.events) / streamSeconds
        let rss = max(snapshotRSS, streamRSS, lagRSS)
        return [
            Figure(name: "snapshot read (connector alone)", value: aloneSnapshotRate, unit: "rows/s", target: "—", met: true),
            Figure(name: "binlog decode (connector alone)", value: aloneStreamRate, unit: "changes/s", target: "—", met: true),
            Figure(name: "snapshot MariaDB→\(target.name)", value: snapshotRate, unit: "rows/s", target: "≥ 100,000", met: snapshotRate >= 100_000),
            Figure(name: "streaming MariaDB→\(target.name)", value: streamRate, unit: "events/s", target: "≥ 50,000", met: streamRate >= 50_000),
            Figure(name: "lag p50 at \(format(Double(lagRate)))/s (ms)", value: p50 * 1000, unit: "ms", target: "—", met: true),
            Figure(name: "lag p99 at \(format(Double(lagRate)))/s (ms)", value: p99 * 1000, unit: "ms", target: "≤ 1,500", met: p99 <= 1.5 && arrived == expected),
            Figure(name: "peak RSS (snapshot/stream/lag)", value: rss, unit: "MiB", target: "≤ 150", met: rss <= 150),
        ]
    }
}

/// Where the benchmark writes: a PostgreSQL database of its own (through `psql`) or a SQLite file.
/// Both stamp `applied_at` on insert with a trigger (the sink writes every column of a new row).
enum BenchTarget {
    case postgres(PGClient, admin: PGClient)
    case sqlite(path: String)

    var name: String {
        switch self {
        case .postgres: "PostgreSQL"
        case .sqlite: "SQLite"
        }
    }

    var storeYAML: String {
        switch self {
        case let .postgres(pg, _): "{ type: postgres, url: \"\(pg.url)\" }"
        case let .sqlite(path): "{ type: sqlite, path: \(path) }"
        }
    }

    func create(_ database: String) throws {
        if case let .postgres(_, admin) = self { try admin.run("CREATE DATABASE \(database)") }
    }

    func drop(_ database: String) {
        if case let .postgres(_, admin) = self {
            _ = try? admin.run("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '\(database)'")
            _ = try? admin.run("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        }
    }

    func createTable() throws {
        switch self {
        case let .postgres(pg, _):
            try pg.run("""
                CREATE TABLE items (id int8 PRIMARY KEY, name text, qty int4, price numeric, tags jsonb, written_at timestamptz, applied_at timestamptz);
                CREATE FUNCTION stamp_applied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.applied_at := clock_timestamp(); RETURN NEW; END $$;
                CREATE TRIGGER items_applied BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp_applied();
                """)
        case let .sqlite(path):
            let db = try SQLiteDatabase(path: path)
            try db.execute("""
                PRAGMA journal_mode=WAL;
                CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price TEXT, tags TEXT, written_at TEXT, applied_at TEXT);
                CREATE TRIGGER items_applied AFTER INSERT ON items BEGIN
                  UPDATE items SET applied_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
                END;
                """)
        }
    }

    func scalar(_ sql: String) throws -> String {
        switch self {
        case let .postgres(pg, _): return try pg.scalar(sql)
        case let .sqlite(path): return String(try SQLiteDatabase(path: path).scalarInt(sql) ?? 0)
        }
    }

    /// Seconds from `written_at` (MariaDB) to `applied_at` (target) of every lag-phase row.
    func lagSamples() throws -> [Double] {
        switch self {
        case let .postgres(pg, _):
            return try pg.run("SELECT extract(epoch FROM applied_at - written_at) FROM items WHERE name = 'lag' AND applied_at IS NOT NULL")
                .split(separator: "\n").compactMap { Double($0) }
        case let .sqlite(path):
            let db = try SQLiteDatabase(path: path)
            let st = try db.prepare("SELECT (julianday(applied_at) - julianday(written_at)) * 86400.0 FROM items WHERE name = 'lag' AND applied_at IS NOT NULL")
            var out: [Double] = []
            while try st.step() { out.append(st.double(0)) }
            return out
        }
    }
}

/// Runs SQL through the `mariadb` command-line client (data loading for the benchmark).
struct MariaClient {
    let url: MariaDBURL

    @discardableResult
    func run(_ sql: String) throws -> String {
        var args = ["mariadb", "--protocol=TCP", "-h", url.host, "-P", String(url.port), "-u", url.user, "--batch", "--skip-column-names"]
        if let p = url.password { args.append("--password=\(p)") }
        return try BenchProcess.run(args, input: sql)
    }

    func scalar(_ sql: String) throws -> String { try run(sql).split(separator: "\n").first.map(String.init) ?? "" }
}

/// Runs SQL through `psql` (data loading and measuring for the benchmark).
struct PGClient {
    let url: String

    static func url(_ base: String, database: String) -> String {
        var head = base
        if let q = head.firstIndex(of: "?") { head = String(head[..<q]) }
        let schemeEnd = head.range(of: "://")?.upperBound ?? head.startIndex
        if let slash = head[schemeEnd...].firstIndex(of: "/") { head = String(head[..<slash]) }
        return head + "/" + database
    }

    @discardableResult
    func run(_ sql: String) throws -> String {
        try BenchProcess.run(["psql", url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"], input: sql)
    }

    func scalar(_ sql: String) throws -> String { try run(sql).trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// A client program run to its end with `input` on stdin.
enum BenchProcess {
    static func run(_ arguments: [String], input: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = errPipe
        try p.run()
        let writer = Thread {
            inPipe.fileHandleForWriting.write(Data(input.utf8))
            try? inPipe.fileHandleForWriting.close()
        }
        writer.start()
        let errData = DataBox()
        let reader = Thread { errData.data = errPipe.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        guard p.terminationStatus == 0 else {
            throw MariaDBBenchmark.Failure(description: "\(arguments[0]) failed: \(String(decoding: errData.data, as: UTF8.self).prefix(500))")
        }
        return String(decoding: out, as: UTF8.self)
    }

    final class DataBox: @unchecked Sendable { var data = Data() }
}
