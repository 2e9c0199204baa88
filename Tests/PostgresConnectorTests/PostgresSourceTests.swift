import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import PostgresConnector

/// The source against a real PostgreSQL (DELTABRIDGE_PG_URL): snapshot hand-off, stream decoding,
/// echoes, lost positions and lost connections.
@Suite struct PostgresSourceTests {
    @Test func snapshotOf100kRowsWhileWritesContinueHasNoGapAndNoDuplicate() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, note text)")
        try db.exec("INSERT INTO items SELECT g, 0, 'n' || g FROM generate_series(1, 100000) g")
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let source = PostgresSource(config: db.config())

        // A writer on its own connection: each transaction inserts a new row (v = -1, never
        // updated) and increments v of an existing row.
        let url = db.url
        let started = ManagedCounter()
        let writer = Task.detached { () -> Int in
            let conn = try PGConnection.connect(url: url, replication: false, store: "writer")
            defer { conn.close() }
            var i = 0
            while !Task.isCancelled && i < 5000 {
                i += 1
                try conn.exec("BEGIN; INSERT INTO items VALUES (\(100000 + i), -1, 'new'); UPDATE items SET v = v + 1 WHERE id = \(i * 37 % 100000 + 1); COMMIT")
                started.set(i)
            }
            return i
        }
        while started.value < 20 { try await Task.sleep(for: .milliseconds(5)) }
        let reader = try await source.beginSnapshot(of: [spec])
        let snapshot = try await readSnapshot(reader, spec, limit: 1000)
        await reader.close()
        while started.value < 400 && !writer.isCancelled { try await Task.sleep(for: .milliseconds(5)) }
        writer.cancel()
        let written = try await writer.value
        #expect(written >= 400)

        // Snapshot: unique keys in key order.
        let snapshotIDs = snapshot.map { $0.attributes["id"]! }
        #expect(Set(snapshotIDs).count == snapshot.count)
        #expect(snapshotIDs == snapshotIDs.sorted { ($0.intValue ?? 0) < ($1.intValue ?? 0) })
        #expect(snapshot.count >= 100000)

        let (changes, position, _) = try await withPGTimeout { try await drainChanges(source, [spec], after: reader.position) }
        #expect(LSN(position)! > LSN(reader.position)!)

        // Every new row exactly once, in the snapshot or in the stream.
        var seen = [Int64: Int]()
        for row in snapshot where (row.attributes["id"]!.intValue ?? 0) > 100000 { seen[row.attributes["id"]!.intValue!, default: 0] += 1 }
        for c in changes where (c.attributes["id"]!.intValue ?? 0) > 100000 { seen[c.attributes["id"]!.intValue!, default: 0] += 1 }
        #expect(seen.count == written)
        #expect(seen.values.allSatisfy { $0 == 1 })

        // Every update exactly once: the stream's v values of a row continue the snapshot's by one.
        var v = [Int64: Int64]()
        for row in snapshot { v[row.attributes["id"]!.intValue!] = row.attributes["v"]!.intValue! }
        var broken = 0
        for c in changes {
            let id = c.attributes["id"]!.intValue!
            let value = c.attributes["v"]!.intValue!
            if id <= 100000 {
                if value != v[id]! + 1 { broken += 1 }
            } else if v[id] != nil {
                broken += 1
            }
            v[id] = value
        }
        #expect(broken == 0)
        let final = try db.rows("SELECT id, v FROM items")
        #expect(final.count == v.count)
        #expect(final.allSatisfy { v[Int64($0[0]!)!] == Int64($0[1]!)! })
    }

    @Test func streamDecodesChangesWithUnchangedToastAndKeyChanges() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE docs (id int PRIMARY KEY, title text, body text)")
        try db.exec("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL")
        let spec = CollectionSpec(name: "docs", keyAttributes: ["id"])
        let source = PostgresSource(config: db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        #expect(try await readSnapshot(reader, spec, limit: 10).isEmpty)
        await reader.close()

        let before = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let big = String(repeating: "toast-", count: 2000)
        try db.exec("INSERT INTO docs VALUES (1, 'a', $1)", [big])
        try db.exec("UPDATE docs SET title = 'b' WHERE id = 1")
        try db.exec("UPDATE docs SET id = 2 WHERE id = 1")
        try db.exec("UPDATE docs SET title = NULL WHERE id = 2")
        try db.exec("DELETE FROM docs WHERE id = 2")
        let (changes, _, _) = try await withPGTimeout { try await drainChanges(source, [spec], after: reader.position) }
        try #require(changes.count == 6)
        #expect(changes[0] == RowChange(collection: "docs", operation: .upsert, attributes: ["id": .int(1), "title": .string("a"), "body": .string(big)],
                                        commitTime: changes[0].commitTime))
        #expect(changes[1].attributes == ["id": .int(1), "title": .string("b")])
        #expect(changes[1].unchanged == ["body"])
        #expect(changes[1].image == .full)
        #expect(changes[2].operation == .delete && changes[2].attributes == ["id": .int(1)])
        #expect(changes[3].operation == .upsert && changes[3].attributes["id"] == .int(2) && changes[3].attributes["title"] == .string("b"))
        #expect(changes[3].attributes["body"] == .string(big) || changes[3].unchanged == ["body"])
        #expect(changes[4].attributes["title"] == .null && changes[4].unchanged == ["body"])
        #expect(changes[5] == RowChange(collection: "docs", operation: .delete, attributes: ["id": .int(2)], commitTime: changes[5].commitTime))
        for c in changes {
            let t = try #require(c.commitTime)
            #expect(t >= before - 5_000_000 && t <= before + 60_000_000)
            #expect(!c.isEcho)
        }
    }

    @Test func largeTransactionGoesOutInPartsAndResumesAfterTheDeliveredPart() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let source = PostgresSource(config: db.config(), batchLimit: 100)
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        try db.exec("INSERT INTO t VALUES (0, 'small')")
        let (_, afterSmall, _) = try await withPGTimeout { try await drainChanges(source, [spec], after: reader.position) }
        // One transaction of 350 inserts, then an update of each of them.
        try db.exec("BEGIN; INSERT INTO t SELECT g, 'big' FROM generate_series(1, 350) g; UPDATE t SET v = 'bigger' WHERE id > 0; COMMIT")
        // Stop after the first part: the slot has then confirmed nothing past the previous commit.
        var firstPart: SourceBatch?
        for try await batch in source.changes(of: [spec], after: afterSmall, follow: false) where !batch.changes.isEmpty {
            firstPart = batch
            break
        }
        let part = try #require(firstPart)
        let position = try #require(PostgresPosition(part.position))
        #expect(position.lsn == LSN(afterSmall)!)
        #expect(position.partial?.delivered == 100)
        #expect(part.changes.count == 100)
        try await waitUntilSlotIsFree(db, source.config.slot)

        // Resuming from a part's position skips what the part delivered: nothing comes twice.
        // Stop again after two more parts, inside the same transaction, and resume once more.
        var second: [SourceBatch] = []
        for try await batch in source.changes(of: [spec], after: part.position, follow: false) where !batch.changes.isEmpty {
            second.append(batch)
            if second.count == 2 { break }
        }
        #expect(second.count == 2)
        #expect(second.allSatisfy { PostgresPosition($0.position)?.lsn == LSN(afterSmall)! })
        #expect(PostgresPosition(second.last!.position)?.partial?.delivered == 300)
        try await waitUntilSlotIsFree(db, source.config.slot)
        var batches: [SourceBatch] = []
        for try await batch in source.changes(of: [spec], after: second.last!.position, follow: false) { batches.append(batch) }
        let rest = batches.filter { !$0.changes.isEmpty }
        #expect(rest.allSatisfy { $0.changes.count <= 100 })
        #expect(LSN(batches.last!.position).map { $0 > LSN(afterSmall)! } == true, "the stream ends at the transaction's commit")
        let all = part.changes + second.flatMap(\.changes) + rest.flatMap(\.changes)
        #expect(all.count == 700)
        #expect(all.map { $0.attributes["id"]! } == (Array(1...350) + Array(1...350)).map { Value.int(Int64($0)) })
        #expect(all.map { $0.attributes["v"]! } == Array(repeating: Value.string("big"), count: 350) + Array(repeating: Value.string("bigger"), count: 350))

        try await waitUntilSlotIsFree(db, source.config.slot)
        let none = try await drainChanges(source, [spec], after: batches.last!.position)
        #expect(none.changes.isEmpty)
    }

    @Test func sinkWritesComeBackMarkedAsEchoes() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let config = db.config()
        let source = PostgresSource(config: config)
        let sink = PostgresSink(config: config)
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        try db.exec("INSERT INTO t VALUES (1, 'user')")
        let results = try await sink.apply([DocumentPatch(collection: "t", key: ["id": .int(2)], action: .upsert(set: ["v": .string("bridge")], unset: []))])
        #expect(results == [.applied])
        try db.exec("UPDATE t SET v = 'user again' WHERE id = 2")
        let (changes, position, _) = try await withPGTimeout { try await drainChanges(source, [spec], after: reader.position) }
        #expect(changes.map(\.isEcho) == [false, true, false])
        #expect(changes[1].attributes == ["id": .int(2), "v": .string("bridge")])
        #expect(changes[1].commitTime != nil)
        // Another store's origin is not ours.
        let other = db.config(db.store("other"))
        _ = try await PostgresSink(config: other).apply([DocumentPatch(collection: "t", key: ["id": .int(3)], action: .replace(["v": .string("x")]))])
        let more = try await drainChanges(source, [spec], after: position)
        #expect(more.changes.map(\.isEcho) == [false])
    }

    @Test("the slot is told a position only once it is acknowledged, not when the next batch is asked for (the engine reads ahead)")
    func slotConfirmsOnlyAcknowledgedPositions() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY)")
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let config = db.config()
        let source = PostgresSource(config: config)
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        let start = try #require(LSN(reader.position))
        @Sendable func confirmed() throws -> LSN {
            try db.scalar("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", [config.slot]).flatMap { LSN($0) } ?? .invalid
        }
        try await withPGTimeout(60) {
            var first: LSN?
            var acknowledged = false
            var next: Int64 = 1
            try db.exec("INSERT INTO t VALUES (1)")
            for try await batch in source.changes(of: [spec], after: reader.position, follow: true) {
                let ids = batch.changes.compactMap { $0.attributes["id"]?.intValue }
                if first == nil, ids.contains(1) {
                    first = LSN(batch.position)
                    next = 2
                    try db.exec("INSERT INTO t VALUES (2)")
                    continue
                }
                guard let first else { continue }
                if !acknowledged, ids.contains(2) {
                    // The batch after the first was asked for and handed out: still nothing confirmed.
                    #expect(try confirmed() <= start)
                    source.acknowledge(first.description)
                    acknowledged = true
                }
                if acknowledged {
                    if try confirmed() >= first { break }
                    next += 1
                    try db.exec("INSERT INTO t VALUES (\(next))")
                }
            }
            // The acknowledged position reached the slot, and nothing past it.
            #expect(try confirmed() == first)
        }
    }

    @Test func droppedSlotIsALostPositionThatNamesResync() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY)")
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let config = db.config()
        let source = PostgresSource(config: config)
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        _ = try await drainChanges(source, [spec], after: reader.position)
        try await waitUntilSlotIsFree(db, config.slot)
        try db.exec("SELECT pg_drop_replication_slot($1)", [config.slot])
        do {
            _ = try await drainChanges(source, [spec], after: reader.position)
            Issue.record("expected a lost position")
        } catch let error as ConnectorError {
            #expect(error.kind == .positionLost)
            #expect(error.message.contains("resync"))
            #expect(error.message.contains(config.slot))
        }
        do {
            _ = try await drainChanges(source, [spec], after: "not-an-lsn")
            Issue.record("expected a lost position")
        } catch let error as ConnectorError {
            #expect(error.kind == .positionLost)
        }
    }

    @Test func terminatedWalsenderIsReconnectedWithoutLoss() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE t (id int PRIMARY KEY)")
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let warnings = WarningLog()
        let config = db.config(warn: warnings.handler)
        let source = PostgresSource(config: config)
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        let start = reader.position
        try await withPGTimeout(90) {
            var seen: [Int64] = []
            var killed = false
            try db.exec("INSERT INTO t VALUES (1)")
            for try await batch in source.changes(of: [spec], after: start, follow: true) {
                seen += batch.changes.compactMap { $0.attributes["id"]?.intValue }
                if seen.contains(1) && !killed {
                    killed = true
                    let n = try db.scalar("SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", [config.slot])
                    #expect(n == "1")
                    try db.exec("INSERT INTO t VALUES (2)")
                    try db.exec("INSERT INTO t VALUES (3)")
                }
                if seen.contains(3) { break }
            }
            #expect(Set(seen) == [1, 2, 3])
        }
        #expect(warnings.all.contains { $0.contains("reconnecting") })
    }

    @Test func serverRestartMidStreamIsSurvivedWithoutLoss() async throws {
        let server = try await offPool { try PGPrivateServer() }
        defer { server.destroy() }
        let app = try PGConnection.connect(url: server.url, replication: false, store: "app")
        try app.exec("CREATE TABLE t (id int PRIMARY KEY)")
        app.close()
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let warnings = WarningLog()
        let source = PostgresSource(config: PostgresStoreConfig(store: "restart", url: server.url, warn: warnings.handler))
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        let start = reader.position
        let sawFirst = ManagedCounter()
        let url = server.url
        // Restarts the server while the consumer keeps reading (as the engine does), then writes.
        let restarter = Task.detached { () -> Double in
            while sawFirst.value == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let began = Date()
            try await offPool { try server.stop() }
            try await offPool { try server.start() }
            let took = Date().timeIntervalSince(began)
            let conn = try PGConnection.connect(url: url, replication: false, store: "app")
            defer { conn.close() }
            try conn.exec("INSERT INTO t VALUES (2)")
            try conn.exec("INSERT INTO t VALUES (3)")
            return took
        }
        try await withPGTimeout(90) {
            let conn = try PGConnection.connect(url: url, replication: false, store: "app")
            try conn.exec("INSERT INTO t VALUES (1)")
            conn.close()
            var seen: [Int64] = []
            for try await batch in source.changes(of: [spec], after: start, follow: true) {
                seen += batch.changes.compactMap { $0.attributes["id"]?.intValue }
                // As the engine does once the batch is durable.
                source.acknowledge(batch.position)
                if seen.contains(1) { sawFirst.set(1) }
                if seen.contains(3) { break }
            }
            #expect(Set(seen) == [1, 2, 3])
        }
        let took = try await restarter.value
        // A walsender waits at shutdown until its client confirmed everything it sent: the
        // source must confirm promptly, or a fast shutdown hangs until wal_sender_timeout.
        #expect(took < 20)
        #expect(warnings.all.contains { $0.contains("reconnecting") })
    }

    @Test func relationChangesDomainsEnumsAndUnknownTypes() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
            CREATE DOMAIN posints AS posint[];
            CREATE TABLE t (id int PRIMARY KEY, m mood, ms mood[], p posint, ps posints, addr inet);
            """)
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        let warnings = WarningLog()
        let source = PostgresSource(config: db.config(warn: warnings.handler))
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        try db.exec("INSERT INTO t VALUES (1, 'happy', '{sad,ok}', 42, '{1,2}', '10.0.0.1/8')")
        try db.exec("ALTER TABLE t ADD COLUMN extra numeric DEFAULT 1.5")
        try db.exec("INSERT INTO t (id, extra) VALUES (2, 2.25)")
        try db.exec("TRUNCATE t")
        let (changes, _, _) = try await withPGTimeout { try await drainChanges(source, [spec], after: reader.position) }
        try #require(changes.count == 2)
        #expect(changes[0].attributes == ["id": .int(1), "m": .string("happy"), "ms": .array([.string("sad"), .string("ok")]),
                                          "p": .int(42), "ps": .array([.int(1), .int(2)]), "addr": .string("10.0.0.1/8")])
        #expect(changes[1].attributes["extra"] == .decimal(ExactDecimal("2.25")!))
        #expect(changes[1].attributes["m"] == .null)
        #expect(warnings.all.filter { $0.contains("t.addr") }.count == 1)
        #expect(!warnings.all.contains { $0.contains("t.m:") || $0.contains("t.ms") || $0.contains("t.p:") })
        #expect(warnings.all.contains { $0.contains("TRUNCATE") })
    }

    @Test func snapshotDecodesTypesAndCompositeKeysInKeyOrder() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE TABLE pairs (a text, b int, m mood, j jsonb, ts timestamptz, PRIMARY KEY (a, b));
            INSERT INTO pairs SELECT chr(120 + g % 3), g, 'ok', jsonb_build_object('g', g), '2024-01-01 00:00:00+00' FROM generate_series(1, 25) g;
            """)
        let spec = CollectionSpec(name: "pairs", keyAttributes: ["a", "b"])
        let warnings = WarningLog()
        let source = PostgresSource(config: db.config(warn: warnings.handler))
        let reader = try await source.beginSnapshot(of: [spec])
        #expect(try await reader.estimatedCount(spec) == 25)
        let rows = try await readSnapshot(reader, spec, limit: 4)
        await reader.close()
        #expect(rows.count == 25)
        let keys = rows.map { ($0.attributes["a"]!.stringValue!, $0.attributes["b"]!.intValue!) }
        #expect(keys.map { "\($0.0)\($0.1 + 100)" } == keys.map { "\($0.0)\($0.1 + 100)" }.sorted())
        #expect(rows[0].attributes["m"] == .string("ok"))
        #expect(rows[0].attributes["j"] == .object(["g": .int(rows[0].attributes["b"]!.intValue!)]))
        #expect(rows[0].attributes["ts"] == .timestamp(1_704_067_200_000_000))
        #expect(warnings.all.isEmpty)
        // A second snapshot (a resync) drops and re-creates the slot.
        let again = try await source.beginSnapshot(of: [spec])
        await again.close()
        #expect(warnings.all.contains { $0.contains("dropping replication slot") })
        #expect(LSN(again.position)! >= LSN(reader.position)!)
    }

    @Test func heartbeatMovesTheStreamPositionWhileWatchedTablesAreIdle() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE quiet (id int PRIMARY KEY)")
        var config = db.config()
        config.heartbeatInterval = 100
        let source = PostgresSource(config: config)
        let spec = CollectionSpec(name: "quiet", keyAttributes: ["id"])
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        let start = LSN(reader.position)!

        // Nothing writes to `quiet`: only the heartbeat can move the server, and so the stream.
        let advanced = try await withPGTimeout(30) { () -> (LSN, Int) in
            var changes = 0
            for try await batch in source.changes(of: [spec], after: reader.position, follow: true) {
                changes += batch.changes.count
                if let p = LSN(batch.position), p > start { return (p, changes) }
            }
            throw PGPrivateServer.Failure(description: "the stream ended without moving past \(start)")
        }
        #expect(advanced.1 == 0, "the heartbeat table is not published: its writes are not changes")
        let beats = try db.scalar("SELECT count(*) FROM public.deltabridge_heartbeat WHERE slot = $1", [config.slot])
        #expect(beats == "1")
    }

    @Test func lagAndValidation() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE ok (id int PRIMARY KEY); CREATE TABLE nokey (id int); CREATE TABLE nothing (id int PRIMARY KEY); ALTER TABLE nothing REPLICA IDENTITY NOTHING")
        let source = PostgresSource(config: db.config())
        let problems = try await source.validate(collections: [CollectionSpec(name: "ok", keyAttributes: ["id"]),
                                                                 CollectionSpec(name: "nokey", keyAttributes: ["id"]),
                                                                 CollectionSpec(name: "nothing", keyAttributes: ["id"]),
                                                                 CollectionSpec(name: "missing", keyAttributes: ["id"])],
                                                  asSource: true, asSink: false)
        let text = problems.map(\.description).joined(separator: "\n")
        #expect(!text.contains("table ok"))
        #expect(text.contains("nokey has no PRIMARY KEY"))
        #expect(text.contains("REPLICA IDENTITY NOTHING"))
        #expect(text.contains("table missing does not exist"))
        #expect(problems.allSatisfy { !$0.fix.isEmpty })

        let spec = CollectionSpec(name: "ok", keyAttributes: ["id"])
        let reader = try await source.beginSnapshot(of: [spec])
        await reader.close()
        try db.exec("INSERT INTO ok SELECT generate_series(1, 1000)")
        let lag = try await source.lag(of: [spec], after: reader.position)
        #expect(LSN(lag.head)! > LSN(reader.position)!)
        #expect((lag.bytesBehind ?? 0) > 0)
        let (_, position, _) = try await drainChanges(source, [spec], after: reader.position)
        let after = try await source.lag(of: [spec], after: position)
        #expect(after.bytesBehind == Int64(LSN(after.head)!.value - LSN(position)!.value))

        let bad = PostgresSource(config: PostgresStoreConfig(store: "bad", url: PGTestServer.url(db.serverURL, database: "no_such_db_\(db.suffix)")))
        let unreachable = try await bad.validate(collections: [spec], asSource: true, asSink: false)
        #expect(unreachable.count == 1)
    }
}

/// A counter shared with a writer task.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var current = 0
    var value: Int { lock.withLock { current } }
    func set(_ v: Int) { lock.withLock { current = v } }
}

extension Value {
    var intValue: Int64? {
        if case let .int(i) = self { return i }
        return nil
    }

    var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }
}

/// Waits until no walsender holds the slot (a closed stream's server process ends a moment later).
func waitUntilSlotIsFree(_ db: PGTestDatabase, _ slot: String) async throws {
    for _ in 0..<100 {
        if try db.scalar("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", [slot]) == nil { return }
        try await Task.sleep(for: .milliseconds(50))
    }
}
