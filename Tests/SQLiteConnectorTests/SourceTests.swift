import ConnectorTestSupport
import DeltaConnector
import DeltaCore
import Foundation
import SQLiteSupport
import Testing
@testable import SQLiteConnector

private let items = CollectionSpec(name: "items", keyAttributes: ["id"])
private let itemsSchema = "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL);"

@Suite struct SQLiteSourceTests {
    @Test func snapshotInChunksWithCompositeKeysHandsOffToTheStream() async throws {
        let db = try TestDatabase("CREATE TABLE pairs(a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b));")
        let spec = CollectionSpec(name: "pairs", keyAttributes: ["a", "b"])
        let source = db.source()
        try await source.installChangeLog(for: [spec])
        // Written before the snapshot: in the change log (before the snapshot's position) and in the snapshot.
        try db.exec("BEGIN")
        for a in ["z", "x", "y"] {
            for b in [10, 2, 1, 0, 7, 3, 5, 4] {
                try db.run("INSERT INTO pairs VALUES (?, ?, ?)", [.text(a), .int(Int64(b)), .text("\(a)\(b)")])
            }
        }
        try db.exec("COMMIT")

        let reader = try await source.beginSnapshot(of: [spec])
        #expect(reader.position == "24")
        #expect(try await reader.estimatedCount(spec) == 24)
        // Written after the snapshot began: in the stream, not in the snapshot.
        try db.exec("INSERT INTO pairs VALUES ('x', 100, 'new')")
        try db.exec("UPDATE pairs SET v = 'changed' WHERE a = 'y' AND b = 1")
        try db.exec("DELETE FROM pairs WHERE a = 'z' AND b = 2")

        let (rows, chunks) = try await snapshotRows(reader, spec, limit: 5)
        await reader.close()
        #expect(chunks == 5)
        let expectedKeys = ["x", "y", "z"].flatMap { a in [0, 1, 2, 3, 4, 5, 7, 10].map { (a, Int64($0)) } }
        #expect(rows.map { [$0.attributes["a"]!, $0.attributes["b"]!] } == expectedKeys.map { [.string($0.0), .int($0.1)] })
        #expect(rows.allSatisfy { $0.operation == .upsert && $0.image == .full && $0.commitTime == nil && $0.collection == "pairs" })
        #expect(rows.first { $0.attributes["a"] == .string("y") && $0.attributes["b"] == .int(1) }?.attributes["v"] == .string("y1"))

        let (changes, position) = flatten(try await drain(source, [spec], after: reader.position))
        #expect(changes.count == 3)
        #expect(changes.map(\.operation) == [.upsert, .upsert, .delete])
        #expect(changes[0].attributes == ["a": .string("x"), "b": .int(100), "v": .string("new")])
        #expect(changes[1].attributes == ["a": .string("y"), "b": .int(1), "v": .string("changed")])
        #expect(changes[2].attributes == ["a": .string("z"), "b": .int(2)])
        #expect(position == "27")
    }

    @Test func streamsInsertsUpdatesAndDeletesInOrder() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        let before = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try db.exec("INSERT INTO items VALUES (1, 'apple', 3, 0.5)")
        try db.exec("INSERT INTO items VALUES (2, 'pear', 1, NULL)")
        try db.exec("UPDATE items SET qty = 4 WHERE id = 1")
        try db.exec("DELETE FROM items WHERE id = 2")
        try db.exec("UPDATE items SET id = 9 WHERE id = 1")  // a key change: delete of 1, upsert of 9
        let after = Int64(Date().timeIntervalSince1970 * 1_000_000)

        let batches = try await drain(source, [items], after: "0")
        #expect(batches.count == 1)
        #expect(batches[0].caughtUp)
        #expect(batches[0].position == "6")
        let c = batches[0].changes
        #expect(c.count == 6)
        #expect(c.map(\.operation) == [.upsert, .upsert, .upsert, .delete, .delete, .upsert])
        #expect(c[0].attributes == ["id": .int(1), "name": .string("apple"), "qty": .int(3), "price": .double(0.5)])
        #expect(c[1].attributes == ["id": .int(2), "name": .string("pear"), "qty": .int(1), "price": .null])
        #expect(c[2].attributes["qty"] == .int(4))
        #expect(c[3].attributes == ["id": .int(2)])
        #expect(c[4].attributes == ["id": .int(1)])
        #expect(c[5].attributes == ["id": .int(9), "name": .string("apple"), "qty": .int(4), "price": .double(0.5)])
        #expect(c.allSatisfy { $0.image == .full && !$0.isEcho && $0.collection == "items" })
        for change in c {
            let t = try #require(change.commitTime)
            #expect(t >= before - 2_000 && t <= after + 2_000, "commit time \(t) outside [\(before), \(after)]")
        }
        // Caught up: nothing more, same position.
        let again = try await drain(source, [items], after: "6")
        #expect(again.count == 1 && again[0].changes.isEmpty && again[0].caughtUp && again[0].position == "6")
    }

    @Test func streamedBatchesHoldAtMostTheBatchLimit() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = SQLiteSource(store: "lite", path: db.path, batchLimit: 3)
        try await source.installChangeLog(for: [items])
        for id in 1...7 { try db.exec("INSERT INTO items VALUES (\(id), 'n', 1, 1.0)") }
        let batches = try await drain(source, [items], after: "0")
        #expect(batches.map(\.changes.count) == [3, 3, 1])
        #expect(batches.map(\.position) == ["3", "6", "7"])
        #expect(batches.map(\.caughtUp) == [false, false, true])
    }

    @Test func resumingAfterAPositionDeliversExactlyTheRest() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        try db.exec("BEGIN")
        for i in 1...2_500 { try db.run("INSERT INTO items(id, name) VALUES (?, ?)", [.int(Int64(i)), .text("n\(i)")]) }
        try db.exec("COMMIT")

        let all = try await drain(source, [items], after: "0")
        #expect(all.map(\.changes.count) == [1_000, 1_000, 500])
        #expect(all.map(\.caughtUp) == [false, false, true])
        #expect(all.map(\.position) == ["1000", "2000", "2500"])

        let rest = flatten(try await drain(source, [items], after: all[0].position))
        #expect(rest.changes.count == 1_500)
        #expect(rest.changes.first?.attributes["id"] == .int(1_001))
        #expect(rest.changes.last?.attributes["id"] == .int(2_500))

        try db.exec("DELETE FROM items WHERE id = 7")
        let tail = flatten(try await drain(source, [items], after: "2500"))
        #expect(tail.changes == [RowChange(collection: "items", operation: .delete, attributes: ["id": .int(7)], commitTime: tail.changes.first?.commitTime)])
        #expect(tail.position == "2501")
    }

    @Test func onlyMappedTablesAreStreamedButPositionsAdvance() async throws {
        let db = try TestDatabase(itemsSchema + "CREATE TABLE other(id INTEGER PRIMARY KEY, x);")
        let source = db.source()
        try await source.installChangeLog(for: [items, CollectionSpec(name: "other", keyAttributes: ["id"])])
        try db.exec("INSERT INTO other VALUES (1, 'x'); INSERT INTO items(id) VALUES (1); INSERT INTO other VALUES (2, 'y');")
        let (changes, position) = flatten(try await drain(source, [items], after: "0"))
        #expect(changes.map(\.collection) == ["items"])
        #expect(position == "3")
    }

    @Test func addedColumnsAppearInLaterChanges() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        try db.exec("INSERT INTO items(id, name) VALUES (1, 'a')")
        let first = flatten(try await drain(source, [items], after: "0"))
        #expect(first.changes[0].attributes["colour"] == nil)

        try db.exec("ALTER TABLE items ADD COLUMN colour TEXT DEFAULT 'red'")
        // The next `changes` call notices the new column and re-creates the triggers.
        _ = try await drain(source, [items], after: first.position)
        try db.exec("UPDATE items SET colour = 'blue' WHERE id = 1")
        try db.exec("INSERT INTO items(id, name) VALUES (2, 'b')")
        let second = flatten(try await drain(source, [items], after: first.position))
        #expect(second.changes.count == 2)
        #expect(second.changes[0].attributes["colour"] == .string("blue"))
        #expect(second.changes[1].attributes["colour"] == .string("red"))
        let recorded = try db.user.scalarText("SELECT columns FROM _deltabridge_tables WHERE tbl = 'items'")
        #expect(recorded == #"["id","name","qty","price","colour"]"#)
    }

    @Test func followingStreamYieldsAChangeWrittenAfterItStarted() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        let path = db.path
        let change = try await withTimeout {
            let stream = source.changes(of: [items], after: "0", follow: true)
            var iterator = stream.makeAsyncIterator()
            // First read: nothing yet, so the stream says it is caught up (and installs the triggers).
            let first = try #require(try await iterator.next())
            #expect(first.caughtUp && first.changes.isEmpty && first.position == "0")
            let writer = try SQLiteDatabase(path: path)
            try writer.execute("INSERT INTO items(id, name) VALUES (42, 'late')")
            while true {
                let batch = try #require(try await iterator.next())
                if let change = batch.changes.first { return change }
            }
        }
        #expect(change.attributes["id"] == .int(42))
        #expect(change.attributes["name"] == .string("late"))
    }

    @Test func followingStreamStopsPromptlyWhenCancelled() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            var count = 0
            for try await _ in source.changes(of: [items], after: "0", follow: true) {
                count += 1
                signal.yield()  // the first (caught-up) batch: the stream is now polling
            }
            return count
        }
        let count = try await withTimeout {
            for await _ in started { break }
            task.cancel()
            return try await task.value
        }
        #expect(count == 1)
    }

    @Test func wideTablesKeepEveryColumn() async throws {
        let columns = (1...130).map { "c\($0)" }
        let db = try TestDatabase("CREATE TABLE wide(id INTEGER PRIMARY KEY, " + columns.map { "\($0) INTEGER" }.joined(separator: ", ") + ");")
        let spec = CollectionSpec(name: "wide", keyAttributes: ["id"])
        let source = db.source()
        try await source.installChangeLog(for: [spec])
        try db.exec("INSERT INTO wide(id, c1, c65, c130) VALUES (1, 1, 65, 130)")
        let (changes, _) = flatten(try await drain(source, [spec], after: "0"))
        #expect(changes.count == 1)
        #expect(changes[0].attributes.count == 131)
        #expect(changes[0].attributes["c65"] == .int(65))
        #expect(changes[0].attributes["c130"] == .int(130))
        #expect(changes[0].attributes["c2"] == .null)
    }

    @Test func pruneAndLostPositions() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        for i in 1...5 { try db.exec("INSERT INTO items(id) VALUES (\(i))") }
        #expect(try await source.prune(upTo: "3") == 3)
        #expect(try db.user.scalarInt("SELECT count(*) FROM _deltabridge_changes") == 2)
        // From the pruned position on, nothing is lost.
        #expect(flatten(try await drain(source, [items], after: "3")).changes.count == 2)
        // Before it, changes are gone: the engine must resync.
        await #expect {
            _ = try await drain(source, [items], after: "2")
        } throws: { ($0 as? ConnectorError)?.kind == .positionLost }
        // A position past the head means the file was replaced.
        await #expect {
            _ = try await drain(source, [items], after: "99")
        } throws: { ($0 as? ConnectorError)?.kind == .positionLost }
        await #expect {
            _ = try await drain(source, [items], after: "not-a-seq")
        } throws: { ($0 as? ConnectorError)?.kind == .positionLost }
        // Pruning everything keeps the head: new changes continue after it.
        #expect(try await source.prune(upTo: "5") == 2)
        let reader = try await source.beginSnapshot(of: [items])
        #expect(reader.position == "5")
        await reader.close()
    }

    @Test func lagCountsChangesAfterTheAppliedPosition() async throws {
        let db = try TestDatabase(itemsSchema + "CREATE TABLE other(id INTEGER PRIMARY KEY);")
        let source = db.source()
        #expect(try await source.lag(of: [items], after: nil) == SourceLag(head: "0", eventsBehind: 0))
        try await source.installChangeLog(for: [items, CollectionSpec(name: "other", keyAttributes: ["id"])])
        for i in 1...4 { try db.exec("INSERT INTO items(id) VALUES (\(i)); INSERT INTO other(id) VALUES (\(i));") }
        #expect(try await source.lag(of: [items], after: "2") == SourceLag(head: "8", eventsBehind: 3))
        #expect(try await source.lag(of: [], after: "2") == SourceLag(head: "8", eventsBehind: 6))
        #expect(try await source.lag(of: [items], after: nil) == SourceLag(head: "8", eventsBehind: 4))
        #expect(try await source.lag(of: [items], after: "8") == SourceLag(head: "8", eventsBehind: 0))
    }

    @Test func aMissingFileIsATransientErrorNamingThePath() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("absent.sqlite")
        let source = SQLiteSource(store: "lite", path: path)
        await #expect {
            _ = try await drain(source, [items], after: "0")
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .transient && e.message.contains(path)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the source must not create the file")
        await #expect(throws: ConnectorError.self) { _ = try await source.beginSnapshot(of: [items]) }
    }

    @Test func aReplacedOrDeletedFileIsNoticedByAnOpenSource() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("app.sqlite")
        func create(_ p: String, _ sql: String) throws { try SQLiteDatabase(path: p).execute(sql) }
        try create(path, itemsSchema)
        let source = SQLiteSource(store: "lite", path: path)
        try await source.installChangeLog(for: [items])
        try create(path, "INSERT INTO items(id) VALUES (1); INSERT INTO items(id) VALUES (2);")
        #expect(flatten(try await drain(source, [items], after: "0")).position == "2")

        // Replaced by another database (e.g. restored from a backup): the saved position means nothing there.
        let fresh = dir.file("fresh.sqlite")
        try create(fresh, itemsSchema)
        for suffix in ["-wal", "-shm"] { unlink(path + suffix) }
        #expect(rename(fresh, path) == 0)
        await #expect {
            _ = try await drain(source, [items], after: "2")
        } throws: { ($0 as? ConnectorError)?.kind == .positionLost }

        // Deleted: a transient error naming the file, not reads from the unlinked one.
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        await #expect {
            _ = try await drain(source, [items], after: "0")
        } throws: { ($0 as? ConnectorError)?.kind == .transient && "\($0)".contains(path) }
    }

    @Test func aMissingTableIsAPermanentError() async throws {
        let db = try TestDatabase(itemsSchema)
        await #expect {
            try await db.source().installChangeLog(for: [CollectionSpec(name: "nope", keyAttributes: ["id"])])
        } throws: { ($0 as? ConnectorError)?.kind == .permanent && "\($0)".contains("nope") }
    }

    @Test func installationIsIdempotentAndSwitchesToWAL() async throws {
        let db = try TestDatabase(itemsSchema)
        let source = db.source()
        try await source.installChangeLog(for: [items])
        let version = try db.user.scalarInt("PRAGMA schema_version")
        try await source.installChangeLog(for: [items])
        _ = try await drain(source, [items], after: "0")
        #expect(try db.user.scalarInt("PRAGMA schema_version") == version)
        #expect(try db.user.scalarText("PRAGMA journal_mode") == "wal")
        #expect(try db.user.scalarInt("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '_deltabridge_items_%'") == 3)
    }

    @Test func factoryBuildsConnectorsFromSettings() throws {
        let factory = SQLiteConnectorFactory()
        #expect(factory.type == "sqlite")
        #expect(factory.settingKeys == ["path", "busy_timeout_ms", "init_sql"])
        let settings = StoreSettings(name: "app", type: "sqlite", values: ["path": "data/app.sqlite", "busy_timeout_ms": "250"],
                                     baseDirectory: "/etc/pipelines", location: "p.yaml:3", batchSize: 250)
        let source = try #require(try factory.makeSource(settings) as? SQLiteSource)
        #expect(source.path == "/etc/pipelines/data/app.sqlite")
        #expect(source.batchLimit == 250)
        #expect(source.busyTimeoutMilliseconds == 250)
        #expect(source.store == "app")
        let sink = try #require(try factory.makeSink(settings) as? SQLiteSink)
        #expect(sink.path == "/etc/pipelines/data/app.sqlite")
        var bad = settings
        bad.values["busy_timeout_ms"] = "soon"
        #expect(throws: ConnectorError.self) { _ = try factory.makeSource(bad) }
        bad.values = [:]
        #expect { _ = try factory.makeSink(bad) } throws: { "\($0)".contains("path") }
    }
}
