import DeltaConnector
import DeltaPipeline
import Foundation
import Logging
import PostgresConnector

/// `deltabridge-bench postgres`: PostgreSQL→PostgreSQL one-way through the real engine and, in the
/// same run on the same servers, PostgreSQL's own logical replication (publication + subscription),
/// so the bridge's figures come with their ratio to the native ones (issue 4's targets).
///
/// Phases, each for the bridge and then for native replication: a snapshot of `rows` rows; a backlog
/// of `updates` UPDATEs, `inserts` INSERTs and `deletes` DELETEs in transactions of 1,000 rows,
/// streamed until applied; a steady load of `rate` changes/s for `lag-seconds`, whose end-to-end
/// lag (target trigger time minus the source row's `updated_at`) gives p50 and p99.
struct PostgresBenchmark {
    var options: [String: String]

    var rows: Int { int("rows", 1_000_000) }
    var updates: Int { int("updates", 200_000) }
    var inserts: Int { int("inserts", 100_000) }
    var deletes: Int { int("deletes", 50_000) }
    var rate: Int { int("rate", 5_000) }
    var lagSeconds: Int { int("lag-seconds", 20) }
    /// Rows per snapshot chunk (`snapshot_batch_size`): twice the batch, so each of the target's
    /// COPYs carries twice the rows; the snapshot's peak RSS rose from 107 to 133 MiB.
    var snapshotBatchSize: Int { int("snapshot-batch-size", 8_000) }

    func int(_ name: String, _ fallback: Int) -> Int {
        options[name].flatMap { Int($0.filter { $0 != "_" }) } ?? fallback
    }

    func run() async throws -> [Figure] {
        let env = ProcessInfo.processInfo.environment
        guard let sourceURL = options["source-url"] ?? env["DELTABRIDGE_PG_URL"] else {
            throw BenchmarkFailure("needs --source-url (and --target-url for a second cluster) or DELTABRIDGE_PG_URL — scripts/bench-postgres.sh starts two private clusters and passes them")
        }
        let targetURL = options["target-url"] ?? env["DELTABRIDGE_PG_TARGET_URL"] ?? sourceURL
        let source = try PSQL(url: sourceURL).freshDatabase("deltabridge_bench_src")
        let serverDir = FileManager.default.temporaryDirectory.path + "/deltabridge-bench-pg-\(getpid())"
        try FileManager.default.createDirectory(atPath: serverDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: serverDir) }
        print("postgres benchmark: \(format(Double(rows)))-row snapshot; backlog of \(format(Double(updates))) updates + \(format(Double(inserts))) inserts + \(format(Double(deletes))) deletes; lag at \(format(Double(rate))) changes/s for \(lagSeconds) s")
        print("  source \(sourceURL), target \(targetURL)\(targetURL == sourceURL ? " (one cluster: pass --target-url for two)" : "")")

        try source.run("""
            CREATE TABLE items(id bigint PRIMARY KEY, name text, qty int, price numeric(12,2), tags jsonb, updated_at timestamptz);
            INSERT INTO items SELECT g, 'item ' || g, g % 1000, (g % 100000) / 100.0, jsonb_build_array('a', g % 7), now()
              FROM generate_series(1, \(rows)) g;
            """)
        try source.run("VACUUM ANALYZE items")

        // The bridge.
        let bridgeTarget = try PSQL(url: targetURL).freshDatabase("deltabridge_bench_dst")
        try createTarget(bridgeTarget)
        let pipeline = try BenchPipeline(directory: serverDir,
                                         source: "{ type: postgres, url: \"\(source.url)\", slot: deltabridge_bench, publication: deltabridge_bench }",
                                         target: "{ type: postgres, url: \"\(bridgeTarget.url)\" }",
                                         snapshotBatchSize: snapshotBatchSize)

        print("  bridge snapshot: starting")
        resetPeakRSS()
        var engine = try pipeline.engine()
        var start = now()
        var cpuStart = processCPUSeconds()
        let snapshot = try await engine.runOnce()
        let bridgeSnapshotSeconds = now() - start
        let snapshotCPU = processCPUSeconds() - cpuStart
        let snapshotRSS = peakRSSMiB()
        let copied = try bridgeTarget.int("SELECT count(*) FROM items")
        print("  bridge snapshot: \(format(Double(snapshot.events))) rows in \(format3(bridgeSnapshotSeconds)) s (bridge CPU \(format3(snapshotCPU)) s, peak RSS \(format(snapshotRSS)) MiB); target holds \(format(Double(copied)))")

        try makeBacklog(source, round: 1)
        print("  bridge stream: starting")
        resetPeakRSS()
        engine = try pipeline.engine()
        start = now()
        cpuStart = processCPUSeconds()
        let stream = try await engine.runOnce()
        let bridgeStreamSeconds = now() - start
        let streamCPU = processCPUSeconds() - cpuStart
        let streamRSS = peakRSSMiB()
        try checkSame(source, bridgeTarget, "after the bridge's backlog")
        print("  bridge stream: \(format(Double(stream.events))) events in \(format3(bridgeStreamSeconds)) s (bridge CPU \(format3(streamCPU)) s, peak RSS \(format(streamRSS)) MiB)")

        resetPeakRSS()
        try bridgeTarget.run("ALTER TABLE items ENABLE TRIGGER bench_lag_trg")
        engine = try pipeline.engine()
        let daemon = engine
        let running = Task { try await daemon.run() }
        let bridgeLag = try await measureLag(source, bridgeTarget, label: "bridge")
        running.cancel()
        _ = try? await running.value
        let lagRSS = peakRSSMiB()
        print("  bridge lag run: peak RSS \(format(lagRSS)) MiB")

        // PostgreSQL's own logical replication, same source, a fresh database on the target server.
        let native = try PSQL(url: targetURL).freshDatabase("deltabridge_bench_native")
        try createTarget(native)
        try source.run("CREATE PUBLICATION native_bench FOR TABLE items")
        try source.run("SELECT pg_create_logical_replication_slot('native_bench', 'pgoutput')")
        let sourceRows = try source.int("SELECT count(*) FROM items")
        start = now()
        try native.run("CREATE SUBSCRIPTION native_bench CONNECTION '\(source.url)' PUBLICATION native_bench WITH (create_slot = false, slot_name = 'native_bench', copy_data = true)")
        let nativePoll = try PSQL.Session(url: native.url)
        let sourcePoll = try PSQL.Session(url: source.url)
        try await waitFor(timeout: 600) { try nativePoll.query("SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r';") == "0" }
        let nativeSnapshotSeconds = now() - start
        print("  native snapshot: \(format(Double(sourceRows))) rows in \(format3(nativeSnapshotSeconds)) s")

        try native.run("ALTER SUBSCRIPTION native_bench DISABLE")
        try await waitFor(timeout: 60) { try source.int("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'native_bench' AND active") == 0 }
        let backlog = try makeBacklog(source, round: 2)
        let endLSN = try source.run("SELECT pg_current_wal_lsn()")
        try native.run("ALTER SUBSCRIPTION native_bench ENABLE")
        // The clock starts when the apply worker has connected: the launcher's start-up delay
        // (wal_retrieve_retry_interval) is not replication speed.
        try await waitFor(timeout: 60) { try source.int("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'native_bench' AND active") == 1 }
        start = now()
        try await waitFor(timeout: 600) {
            try sourcePoll.query("SELECT confirmed_flush_lsn >= '\(endLSN)' FROM pg_replication_slots WHERE slot_name = 'native_bench';") == "t"
        }
        let nativeStreamSeconds = now() - start
        try nativePoll.finish()
        try sourcePoll.finish()
        try checkSame(source, native, "after native replication's backlog")
        print("  native stream: \(format(Double(backlog))) events in \(format3(nativeStreamSeconds)) s")

        try native.run("ALTER TABLE items ENABLE ALWAYS TRIGGER bench_lag_trg")
        let nativeLag = try await measureLag(source, native, label: "native")

        try native.run("ALTER SUBSCRIPTION native_bench DISABLE; ALTER SUBSCRIPTION native_bench SET (slot_name = NONE); DROP SUBSCRIPTION native_bench")
        try source.run("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'deltabridge_bench_src' AND NOT active")

        let snapshotRate = Double(snapshot.events) / bridgeSnapshotSeconds
        let nativeSnapshotRate = Double(sourceRows) / nativeSnapshotSeconds
        let streamRate = Double(stream.events) / bridgeStreamSeconds
        let nativeStreamRate = Double(backlog) / nativeStreamSeconds
        let rss = max(snapshotRSS, streamRSS, lagRSS)
        print("  ratios to native logical replication: snapshot \(format3(snapshotRate / nativeSnapshotRate)), streaming \(format3(streamRate / nativeStreamRate))")
        return [
            Figure(name: "snapshot PG→PG (bridge)", value: snapshotRate, unit: "rows/s", target: "≥ 150,000", met: snapshotRate >= 150_000),
            Figure(name: "snapshot PG→PG (native)", value: nativeSnapshotRate, unit: "rows/s", target: "reference", met: true),
            Figure(name: "streaming PG→PG (bridge)", value: streamRate, unit: "events/s", target: "≥ 60,000", met: streamRate >= 60_000),
            Figure(name: "streaming PG→PG (native)", value: nativeStreamRate, unit: "events/s", target: "reference", met: true),
            Figure(name: "lag p50 at \(rate)/s (bridge)", value: bridgeLag.p50, unit: "ms", target: "reference", met: true),
            Figure(name: "lag p99 at \(rate)/s (bridge)", value: bridgeLag.p99, unit: "ms", target: "≤ 250", met: bridgeLag.p99 <= 250),
            Figure(name: "lag p50 at \(rate)/s (native)", value: nativeLag.p50, unit: "ms", target: "reference", met: true),
            Figure(name: "lag p99 at \(rate)/s (native)", value: nativeLag.p99, unit: "ms", target: "reference", met: true),
            Figure(name: "peak RSS (snapshot / stream / lag)", value: rss, unit: "MiB", target: "≤ 150", met: rss <= 150),
        ]
    }

    /// The target table, and a trigger that records each applied row's lag once enabled.
    func createTarget(_ db: PSQL) throws {
        try db.run("""
            CREATE TABLE items(id bigint PRIMARY KEY, name text, qty int, price numeric(12,2), tags jsonb, updated_at timestamptz);
            CREATE TABLE bench_lag(lag_us bigint);
            CREATE FUNCTION bench_lag_fn() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.name LIKE 'lag %' AND (TG_OP = 'INSERT' OR NEW.updated_at IS DISTINCT FROM OLD.updated_at) THEN
                INSERT INTO public.bench_lag VALUES ((extract(epoch FROM clock_timestamp() - NEW.updated_at) * 1000000)::bigint);
              END IF;
              RETURN NULL;
            END $$;
            CREATE TRIGGER bench_lag_trg AFTER INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION bench_lag_fn();
            ALTER TABLE items DISABLE TRIGGER bench_lag_trg;
            """)
    }

    /// Writes the backlog in transactions of 1,000 rows; returns the number of row changes.
    @discardableResult
    func makeBacklog(_ db: PSQL, round: Int) throws -> Int {
        let firstInsert = rows + (round - 1) * inserts
        let deleteHigh = rows - (round - 1) * deletes
        func batched(_ count: Int, _ body: String) -> String {
            "DO $$ BEGIN FOR b IN 0..\(max(0, (count - 1) / 1000)) LOOP \(body); COMMIT; END LOOP; END $$"
        }
        try db.run(batched(updates, "UPDATE items SET qty = qty + 1, updated_at = clock_timestamp() WHERE id > b * 1000 AND id <= least((b + 1) * 1000, \(updates))"))
        try db.run(batched(inserts, "INSERT INTO items SELECT g, 'new ' || g, 1, 1.50, NULL, clock_timestamp() FROM generate_series(\(firstInsert) + b * 1000 + 1, least(\(firstInsert) + (b + 1) * 1000, \(firstInsert + inserts))) g"))
        try db.run(batched(deletes, "DELETE FROM items WHERE id > \(deleteHigh - deletes) + b * 1000 AND id <= least(\(deleteHigh - deletes) + (b + 1) * 1000, \(deleteHigh))"))
        return updates + inserts + deletes
    }

    /// Fails the run when the two tables differ (a benchmark of wrong results means nothing).
    func checkSame(_ a: PSQL, _ b: PSQL, _ when: String) throws {
        let digest = "SELECT count(*) || ':' || coalesce(sum(id * 7 + qty), 0) FROM items"
        let left = try a.run(digest)
        let right = try b.run(digest)
        guard left == right else { throw BenchmarkFailure("source and target differ \(when): \(left) vs \(right)") }
    }

    /// Writes `rate` changes/s for `lagSeconds` (UPDATEs of 10 rows every 2 ms) and waits until
    /// the target has applied them all; returns the p50 and p99 of the per-row lag in ms.
    func measureLag(_ source: PSQL, _ target: PSQL, label: String) async throws -> (p50: Double, p99: Double) {
        try target.run("TRUNCATE bench_lag")
        let probe = rows * 4 + Int.random(in: 1...1_000_000)
        try source.run("INSERT INTO items VALUES (\(probe), 'probe', 0, 0, NULL, now())")
        try await waitFor(timeout: 60) { try target.int("SELECT count(*) FROM items WHERE id = \(probe)") == 1 }
        let session = try PSQL.Session(url: source.url)
        let perStatement = 10
        let statementsPerSecond = max(1, rate / perStatement)
        let total = statementsPerSecond * lagSeconds
        let begin = now()
        var next = 1
        for k in 0..<total {
            let due = begin + Double(k) / Double(statementsPerSecond)
            let wait = due - now()
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            let low = next
            next += perStatement
            if next > rows / 2 { next = 1 }
            session.send("UPDATE items SET name = 'lag ' || id, updated_at = clock_timestamp() WHERE id >= \(low) AND id < \(low + perStatement);")
        }
        try session.finish()
        let written = Double(total * perStatement) / (now() - begin)
        let expected = total * perStatement
        let poll = try PSQL.Session(url: target.url)
        try await waitFor(timeout: 300) { (Int(try poll.query("SELECT count(*) FROM bench_lag;")) ?? 0) >= expected }
        try poll.finish()
        let p = try target.run("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY lag_us) || ' ' || percentile_disc(0.99) WITHIN GROUP (ORDER BY lag_us) FROM bench_lag")
        let parts = p.split(separator: " ").compactMap { Double($0) }
        guard parts.count == 2 else { throw BenchmarkFailure("no lag figures from the target: \(p)") }
        print("  \(label) lag: \(format(Double(expected))) changes written at \(format(written))/s; p50 \(format3(parts[0] / 1000)) ms, p99 \(format3(parts[1] / 1000)) ms")
        return (parts[0] / 1000, parts[1] / 1000)
    }

    /// Polls `condition` every 20 ms until it holds, or fails after `timeout` seconds.
    func waitFor(timeout: Double, _ condition: () throws -> Bool) async throws {
        let deadline = now() + timeout
        while try !condition() {
            guard now() < deadline else { throw BenchmarkFailure("timed out after \(Int(timeout)) s waiting for replication to catch up") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}
