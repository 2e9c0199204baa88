import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import MariaDBConnector

/// The source against the real server: snapshot → stream hand-off, every type decoded the same
/// way from the binlog as from a snapshot, resume, updates and deletes, echoes, DDL, large
/// transactions, lag.
@Suite struct MariaDBSourceTests {
    static let allTypes = """
        CREATE TABLE all_types (id INT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT,
          bi BIGINT, biu BIGINT UNSIGNED, d DECIMAL(30,10), f FLOAT, dbl DOUBLE, b BIT(10), y YEAR, dt DATE, t TIME(3),
          dtm DATETIME(6), ts TIMESTAMP(6) NULL, c CHAR(5) CHARACTER SET latin1, vc VARCHAR(300), tx TEXT, bl BLOB, bn BINARY(4),
          e ENUM('red','green','blue'), s SET('a','b','c'), j JSON, u UUID, i6 INET6, i4 INET4, ok BOOLEAN)
        """
    static let allTypesRows = """
        INSERT INTO all_types VALUES
          (1, -128, 255, -32768, 16777215, -2147483648, -9223372036854775808, 18446744073709551615, -12345678901234567890.0123456789,
           3.14159, -1.7976931348623157e308, b'1010101010', 2024, '2024-02-29', '-838:59:59.000', '9999-12-31 23:59:59.999999',
           '2038-01-19 03:14:07.999999', 'café', 'żółw € 🎉', REPEAT('x', 300), X'00FF10', X'01000000', 'green', 'a,c',
           '{"a": [1, 2.5, "x", null, true], "b": {"c": "d"}}', '123e4567-e89b-12d3-a456-426614174000', '2001:db8::1', '10.0.0.1', TRUE),
          (2, 127, 0, 32767, 0, 2147483647, 9223372036854775807, 0, 0.0000000001, -1.5e-10, 2.2250738585072014e-308, b'0', 1901,
           '1000-01-01', '00:00:00.001', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01', '', '', '', X'', X'00000000', 'red', '',
           '[]', '00000000-0000-0000-0000-000000000000', '::ffff:1.2.3.4', '255.255.255.255', FALSE),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
        """

    @Test func streamedRowsEqualSnapshotRowsForEveryType() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec(Self.allTypes)
        let start = try db.head()
        try db.exec(Self.allTypesRows)
        let spec = CollectionSpec(name: "all_types", keyAttributes: ["id"])
        let source = MariaDBSource(config: db.config())
        let streamed = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: start) }.changes
        let reader = try await source.beginSnapshot(of: [spec])
        let snapshot = try await readSnapshot(reader, spec, limit: 2)
        await reader.close()
        try #require(streamed.count == 3)
        try #require(snapshot.count == 3)
        for (a, b) in zip(streamed, snapshot) {
            for (k, v) in b.attributes { #expect(a.attributes[k] == v, "column \(k): binlog \(a.attributes[k]?.description ?? "-") vs snapshot \(v)") }
            #expect(a.attributes.count == b.attributes.count)
        }
        let first = streamed[0].attributes
        #expect(first["biu"] == .decimal(ExactDecimal("18446744073709551615")!))
        #expect(first["t"] == .string("-838:59:59.000"))
        #expect(first["vc"] == .string("żółw € 🎉"))
        #expect(first["j"] == .object(["a": .array([.int(1), .double(2.5), .string("x"), .null, .bool(true)]), "b": .object(["c": .string("d")])]))
        #expect(streamed[1].attributes["i6"] == .string("::ffff:1.2.3.4"))
        #expect(first["ok"] == .bool(true))
        #expect(streamed[1].attributes["ok"] == .bool(false))
        #expect(streamed[1].attributes["bn"] == .bytes([0, 0, 0, 0]))
    }

    @Test func snapshotThenStreamHasNoGapAndNoDuplicate() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        for i in 1...50 { try db.exec("INSERT INTO items VALUES (\(i), 'v\(i)')") }
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let source = MariaDBSource(config: db.config())
        let reader = try await source.beginSnapshot(of: [spec])
        // Writes continue while the snapshot is open.
        try db.exec("INSERT INTO items VALUES (51, 'late')")
        try db.exec("UPDATE items SET name = 'changed' WHERE id = 1")
        try db.exec("DELETE FROM items WHERE id = 2")
        let rows = try await readSnapshot(reader, spec, limit: 7)
        #expect(try await reader.estimatedCount(spec) != nil)
        await reader.close()
        #expect(rows.count == 50)
        #expect(rows.map { $0.attributes["id"] } == (1...50).map { .int(Int64($0)) })
        #expect(rows[0].attributes["name"] == .string("v1"))
        let stream = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: reader.position) }
        #expect(stream.changes.count == 3)
        #expect(stream.changes.map(\.operation) == [.upsert, .upsert, .delete])
        #expect(stream.changes[0].attributes["id"] == .int(51))
        #expect(stream.changes[1].attributes["name"] == .string("changed"))
        #expect(stream.changes[2].attributes == ["id": .int(2)])
        #expect(stream.changes.allSatisfy { !$0.isEcho && $0.commitTime != nil })
        // Resuming from the end delivers nothing more; a later write only that write.
        let again = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: stream.position) }
        #expect(again.changes.isEmpty)
        try db.exec("INSERT INTO items VALUES (52, 'next')")
        let next = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: stream.position) }
        #expect(next.changes.map { $0.attributes["id"] } == [.int(52)])
    }

    @Test func sinkWritesComeBackAsEchoes() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        let start = try db.head()
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let sink = MariaDBSink(config: db.config())
        try await sink.prepare(collections: [spec])
        let results = try await sink.apply([DocumentPatch(collection: "items", key: ["id": .int(1)], action: .upsert(set: ["name": .string("bridge")], unset: []))])
        #expect(results == [.applied])
        try db.exec("INSERT INTO items VALUES (2, 'app')")
        let source = MariaDBSource(config: db.config())
        let changes = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: start) }.changes
        #expect(changes.map(\.isEcho) == [true, false])
        #expect(changes.map { $0.attributes["name"] } == [.string("bridge"), .string("app")])
    }

    @Test func keyChangesBecomeADeleteAndAnUpsertAndDDLAddsAttributes() async throws {
        let warnings = MariaDBWarnings()
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        try db.exec("INSERT INTO items VALUES (1, 'a')")
        let start = try db.head()
        try db.exec("UPDATE items SET id = 10 WHERE id = 1")
        try db.exec("ALTER TABLE items ADD COLUMN note JSON")
        try db.exec("INSERT INTO items VALUES (11, 'b', '{\"x\": 1}')")
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let source = MariaDBSource(config: db.config(warn: warnings.handler))
        let changes = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: start) }.changes
        #expect(changes.map(\.operation) == [.delete, .upsert, .upsert])
        #expect(changes[0].attributes == ["id": .int(1)])
        #expect(changes[1].attributes == ["id": .int(10), "name": .string("a")])
        #expect(changes[2].attributes == ["id": .int(11), "name": .string("b"), "note": .object(["x": .int(1)])])
        #expect(warnings.all.isEmpty, "\(warnings.all)")
    }

    @Test func changesLoggedAsStatementsAreWarnedAboutAndTruncateToo() async throws {
        let warnings = MariaDBWarnings()
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY)")
        let start = try db.head()
        try db.exec("SET SESSION binlog_format = 'STATEMENT'")
        try db.exec("INSERT INTO items VALUES (1)")
        try db.exec("SET SESSION binlog_format = 'ROW'")
        try db.exec("INSERT INTO items VALUES (2)")
        try db.exec("TRUNCATE TABLE items")
        let source = MariaDBSource(config: db.config(warn: warnings.handler))
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let changes = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: start) }.changes
        #expect(changes.map { $0.attributes["id"] } == [.int(2)])
        #expect(warnings.all.contains { $0.contains("logged as a statement") && $0.contains("binlog_format=ROW") })
        #expect(warnings.all.contains { $0.contains("TRUNCATE") && $0.contains("not replicated") })
    }

    @Test func aLargeTransactionGoesOutInPartsAtThePreviousPosition() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY)")
        let start = try db.head()
        try db.exec("START TRANSACTION")
        for i in 1...25 { try db.exec("INSERT INTO items VALUES (\(i))") }
        try db.exec("COMMIT")
        let gtid = try #require(MariaDBGTIDPosition(try db.scalar("SELECT @@last_gtid") ?? "")?.gtids[0])
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let source = MariaDBSource(config: db.config(), batchLimit: 10)
        let batches = try await withMariaDBTimeout {
            var out: [SourceBatch] = []
            for try await b in source.changes(of: [spec], after: start, follow: false) { out.append(b) }
            return out
        }
        let parts = batches.filter { !$0.changes.isEmpty }
        #expect(parts.reduce(0) { $0 + $1.changes.count } == 25)
        #expect(parts.count >= 3)
        // Parts before the commit resume before the transaction, skipping what they delivered; the
        // position after it includes it.
        var delivered = 0
        for part in parts.dropLast() {
            let p = try #require(MariaDBGTIDPosition(part.position))
            delivered += part.changes.count
            #expect((p.gtids[0]?.sequence ?? .max) < gtid.sequence, "\(part.position) vs \(gtid)")
            #expect(p.partial == MariaDBGTIDPosition.Partial(transaction: gtid, delivered: delivered), "\(part.position)")
        }
        let end = try #require(MariaDBGTIDPosition(batches.last?.position ?? ""))
        #expect((end.gtids[0]?.sequence ?? 0) >= gtid.sequence && end.partial == nil)

        // Resuming inside the transaction delivers only the rest of it.
        let middle = try #require(parts.dropLast().last)
        let before = parts.prefix { $0.position != middle.position }.reduce(0) { $0 + $1.changes.count } + middle.changes.count
        let rest = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: middle.position) }
        #expect(rest.changes.map { $0.attributes["id"] } == (before + 1...25).map { .int(Int64($0)) })
    }

    @Test func aTimeColumnStampsChangesWithMicroseconds() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY, updated_at DATETIME(6))")
        try db.exec("INSERT INTO items VALUES (1, '2024-02-29 13:45:56.123456')")
        let start = try db.head()
        try db.exec("INSERT INTO items VALUES (2, '2024-03-01 00:00:00.000001'), (3, NULL)")
        var config = db.config()
        config.timeColumn = "updated_at"
        let source = MariaDBSource(config: config)
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let streamed = try await withMariaDBTimeout { try await drainMariaDB(source, [spec], after: start) }.changes
        #expect(streamed.count == 2)
        #expect(streamed.first?.commitTime == Timestamps.parseISO8601("2024-03-01T00:00:00.000001Z"))
        // Without a value the binlog's whole-second time stays.
        #expect((streamed.last?.commitTime ?? 1) % 1_000_000 == 0)
        let reader = try await source.beginSnapshot(of: [spec])
        let rows = try await readSnapshot(reader, spec, limit: 10)
        await reader.close()
        #expect(rows.first?.commitTime == Timestamps.parseISO8601("2024-02-29T13:45:56.123456Z"))
    }

    @Test func lagCountsTransactionsBehindTheHead() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY)")
        let start = try db.head()
        for i in 1...3 { try db.exec("INSERT INTO items VALUES (\(i))") }
        let source = MariaDBSource(config: db.config())
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let lag = try await source.lag(of: [spec], after: start)
        #expect((lag.eventsBehind ?? 0) >= 3)
        let caughtUp = try await source.lag(of: [spec], after: try db.head())
        // Other tests write concurrently: the head only moves on.
        #expect((caughtUp.eventsBehind ?? -1) >= 0)
        #expect(MariaDBGTIDPosition(caughtUp.head) != nil && caughtUp.head.hasPrefix("gtid:0-1-"))
    }

    @Test func aStartPositionThatIsNotAGTIDIsAPositionError() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        let source = MariaDBSource(config: db.config())
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        await #expect {
            for try await _ in source.changes(of: [spec], after: "0/16B3748", follow: false) {}
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .positionLost && e.message.contains("deltabridge resync")
        }
    }
}
