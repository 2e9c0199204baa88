import DeltaCore
@testable import DeltaLedger
import SQLiteSupport
import Testing

@Suite("SQLite ledger")
struct SQLiteLedgerTests {
    let ns: Namespace = "items"

    @Test("commit merges by LWW and states read back what was merged")
    func mergeAndRead() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"))
        try ledger.commit(LedgerBatch(deltas: [
            set(ns, 1, "name", .string("old"), time: 10),
            set(ns, 1, "qty", .int(3), time: 10),
        ]))
        // An older write loses, a newer one wins, a different attribute survives (rule 1, 2).
        let outcomes = try ledger.commit(LedgerBatch(deltas: [
            set(ns, 1, "name", .string("stale"), time: 5, origin: "b"),
            set(ns, 1, "qty", .int(4), time: 11, origin: "b"),
        ]))
        #expect(outcomes[DocumentRef(ns, DocumentKey(.int(1)))]?.changedAttributes == ["qty"])
        let state = try #require(try ledger.states(ns, [DocumentKey(.int(1))])[DocumentKey(.int(1))])
        #expect(state.liveValues == ["name": .string("old"), "qty": .int(4)])
        #expect(state.attributes["qty"]?.stamp == Stamp(time: 11, origin: "b"))
        #expect(try ledger.states(ns, [DocumentKey(.int(99))])[DocumentKey(.int(99))] == .unknown)
    }

    @Test("a new ledger file has 16 KiB pages; an existing one keeps its page size and its states")
    func pageSizes() throws {
        let dir = try TemporaryDirectory()
        let fresh = dir.file("new.sqlite")
        try SQLiteLedger(path: fresh).commit(LedgerBatch(deltas: [set(ns, 1, "name", .string("n"), time: 10)]))
        #expect(try SQLiteDatabase(path: fresh).scalarInt("PRAGMA page_size") == 16_384)
        // A ledger an earlier build made, with SQLite's default 4 KiB pages.
        let old = dir.file("old.sqlite")
        do {
            let db = try SQLiteDatabase(path: old)
            try db.execute("PRAGMA page_size=4096; PRAGMA journal_mode=WAL")
            _ = try SQLiteLedger(path: old)
        }
        let reopened = try SQLiteLedger(path: old)
        try reopened.commit(LedgerBatch(deltas: [set(ns, 1, "name", .string("kept"), time: 10)]))
        #expect(try SQLiteDatabase(path: old).scalarInt("PRAGMA page_size") == 4096)
        #expect(try SQLiteLedger(path: old).states(ns, [DocumentKey(.int(1))])[DocumentKey(.int(1))]?.liveValues == ["name": .string("kept")])
    }

    @Test("the WAL is checkpointed off the committing thread, starts over, and loses nothing")
    func backgroundCheckpoints() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        let ledger = try SQLiteLedger(path: path)
        let checkpointer = try #require(ledger.checkpointer)
        #expect(checkpointer.completed == 0)
        // About 24 MiB of states in batches: more WAL frames than a checkpoint is asked for at.
        let text = String(repeating: "x", count: 1_000)
        for batch in 0 ..< 12 {
            let deltas = (0 ..< 2_000).map { set(ns, batch * 2_000 + $0, "body", .string(text), time: 10) }
            try ledger.commit(LedgerBatch(deltas: deltas))
        }
        checkpointer.drain()
        #expect(checkpointer.completed >= 1)
        // Once a checkpoint has copied every frame, the next commit starts the WAL over: it
        // holds only that commit's frames, not everything since the ledger was opened.
        try ledger.commit(LedgerBatch(deltas: [set(ns, 1, "body", .string("again"), time: 11)]))
        checkpointer.drain()
        let probe = try SQLiteDatabase(path: path)
        #expect(try probe.scalarInt("SELECT count(*) FROM documents") == 24_000)
        let frames = try probe.checkpointPassive().walFrames
        #expect(frames > 0 && frames < SQLiteLedgerCheckpointer.requestFrames, "WAL frames: \(frames)")
        let keys = [DocumentKey(.int(1)), DocumentKey(.int(23_999))]
        let states = try ledger.states(ns, keys)
        #expect(states[keys[0]]?.liveValues == ["body": .string("again")])
        #expect(states[keys[1]]?.liveValues == ["body": .string(text)])
    }

    @Test("a batch with merged states stores exactly what the writer's own merge of the deltas gives")
    func mergedStatesAreStoredAsGiven() throws {
        let dir = try TemporaryDirectory()
        let reference = try SQLiteLedger(path: dir.file("reference.sqlite"))
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"), options: .init(keepHistory: true))
        let first = [set(ns, 1, "name", .string("a"), time: 10), set(ns, 2, "qty", .int(1), time: 10)]
        let second = [set(ns, 1, "name", .string("stale"), time: 5, origin: "b"), set(ns, 1, "qty", .int(4), time: 11, origin: "b"),
                      tombstone(ns, 2, time: 12)]
        for deltas in [first, second] {
            try reference.commit(LedgerBatch(deltas: deltas))
            // The writer's side: read, merge in memory, hand over the result.
            let keys = [DocumentKey(.int(1)), DocumentKey(.int(2))]
            var states = try ledger.states(ns, keys)
            for d in deltas { Merge.apply(d.change, stamp: d.stamp, to: &states[d.key, default: DocumentState()]) }
            var batch = LedgerBatch(deltas: deltas)
            batch.mergedDocuments = states.map { MergedDocument(ref: DocumentRef(ns, $0.key), state: $0.value) }
            try ledger.commit(batch)
        }
        let keys = [DocumentKey(.int(1)), DocumentKey(.int(2))]
        #expect(try ledger.states(ns, keys) == reference.states(ns, keys))
        #expect(try ledger.states(ns, [DocumentKey(.int(1))]).values.first?.liveValues == ["name": .string("a"), "qty": .int(4)])
        #expect(try ledger.history(ns, DocumentKey(.int(1))).count == 3)
    }

    @Test("replaying a batch changes nothing (rule 9)")
    func replay() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"))
        let batch = LedgerBatch(deltas: [set(ns, 1, "a", .int(1), time: 1), tombstone(ns, 2, time: 3), set(ns, 2, "a", .int(2), time: 2)])
        try ledger.commit(batch)
        let again = try ledger.commit(batch)
        let allNoop = again.values.allSatisfy { $0.isNoop }
        #expect(allNoop)
        let stats = try ledger.statistics()
        #expect(stats.attributes == 2)
        #expect(stats.tombstones == 1)
    }

    @Test("tombstones and auto-restore survive a reopen (rule 6)")
    func tombstones() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        do {
            let ledger = try SQLiteLedger(path: path)
            try ledger.commit(LedgerBatch(deltas: [set(ns, 1, "a", .int(1), time: 1), set(ns, 1, "b", .int(2), time: 1)]))
            let out = try ledger.commit(LedgerBatch(deltas: [tombstone(ns, 1, time: 5)]))
            #expect(out.values.first?.effect == .delete)
        }
        let ledger = try SQLiteLedger(path: path)
        var state = try ledger.states(ns, [DocumentKey(.int(1))]).values.first!
        #expect(!state.isAlive)
        let out = try ledger.commit(LedgerBatch(deltas: [set(ns, 1, "b", .int(3), time: 6, origin: "b")]))
        #expect(out.values.first?.effect == .create)
        state = try ledger.states(ns, [DocumentKey(.int(1))]).values.first!
        #expect(state.liveValues == ["a": .int(1), "b": .int(3)])
    }

    @Test("checkpoints round-trip and are replaced, listed and deleted by scope")
    func checkpoints() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"))
        let first = Checkpoint(pipeline: "p", scope: "f/pg", position: "0/16B3748", clockTime: 1_700_000_000_000_000, clockCounter: 7,
                               appliedCommitTime: 1_700_000_000_000_001, appliedEvents: 42, updatedAt: 9, extra: #"{"snapshot":"done"}"#)
        try ledger.commit(LedgerBatch(checkpoints: [first, Checkpoint(pipeline: "p", scope: "g/mongo", position: "tok", updatedAt: 1)]))
        #expect(try ledger.checkpoint(pipeline: "p", scope: "f/pg") == first)
        var second = first
        second.position = "0/16B4000"
        second.appliedCommitTime = nil
        try ledger.commit(LedgerBatch(checkpoints: [second]))
        #expect(try ledger.checkpoint(pipeline: "p", scope: "f/pg") == second)
        #expect(try ledger.checkpoints(pipeline: "p").map(\.scope) == ["f/pg", "g/mongo"])
        try ledger.deleteCheckpoints(pipeline: "p", scopePrefix: "f/")
        #expect(try ledger.checkpoints(pipeline: "p").map(\.scope) == ["g/mongo"])
        #expect(try ledger.checkpoint(pipeline: "other", scope: "g/mongo") == nil)
    }

    @Test("history keeps every delta in stamp order, once, when enabled")
    func history() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"), options: .init(keepHistory: true))
        let deltas = [
            set(ns, 1, "a", .string("v2"), time: 20, origin: "b"),
            set(ns, 1, "a", .string("v1"), time: 10),
            tombstone(ns, 1, time: 30),
            Delta(namespace: ns, key: DocumentKey(.int(1)), change: .unset("b"), stamp: Stamp(time: 15, origin: "a")),
            set(ns, 2, "a", .string("other"), time: 1),
        ]
        try ledger.commit(LedgerBatch(deltas: deltas))
        try ledger.commit(LedgerBatch(deltas: deltas))  // a replay adds nothing
        let history = try ledger.history(ns, DocumentKey(.int(1)))
        #expect(history.map(\.stamp.time) == [10, 15, 20, 30])
        #expect(history.map(\.change) == [.set("a", .string("v1")), .unset("b"), .set("a", .string("v2")), .tombstone])
        let off = try SQLiteLedger(path: dir.file("nohistory.sqlite"))
        try off.commit(LedgerBatch(deltas: deltas))
        #expect(try off.history(ns, DocumentKey(.int(1))).isEmpty)
    }

    @Test("write records and dead letters are stored and read back")
    func writesAndDeadLetters() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"))
        let key = DocumentKey(.int(1))
        let stamp = Stamp(time: 5, origin: "pg")
        try ledger.commit(LedgerBatch(
            writes: [WriteRecord(store: "mongo", namespace: ns, key: key, attribute: "a", value: .int(1), stamp: stamp),
                     WriteRecord(store: "mongo", namespace: ns, key: key, attribute: "b", value: nil, stamp: stamp)],
            deadLetters: [DeadLetter(pipeline: "p", flow: "f", store: "mongo", namespace: "items", key: "1",
                                     reason: "value too long for varchar(3)", payload: "{}", createdAt: 1)]))
        let writes = try ledger.writes(store: "mongo", ns, key)
        #expect(writes == ["a": AttributeState(value: .int(1), stamp: stamp), "b": AttributeState(value: nil, stamp: stamp)])
        #expect(try ledger.writes(store: "pg", ns, key).isEmpty)
        let letters = try ledger.deadLetters(pipeline: "p", limit: 10)
        #expect(letters.count == 1 && letters[0].reason.contains("varchar(3)"))
        #expect(try ledger.deadLetters(pipeline: "q", limit: 10).isEmpty)
    }

    @Test("compaction removes old dead documents only")
    func compaction() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"), options: .init(keepHistory: true))
        try ledger.commit(LedgerBatch(deltas: [
            set(ns, 1, "a", .int(1), time: 1), tombstone(ns, 1, time: 2),      // dead, old: goes
            set(ns, 2, "a", .int(1), time: 1), tombstone(ns, 2, time: 500),    // dead, recent: stays
            set(ns, 3, "a", .int(1), time: 3), tombstone(ns, 3, time: 2),      // restored: stays
        ]))
        #expect(try ledger.compactTombstones(olderThan: 100) == 1)
        let states = try ledger.states(ns, [1, 2, 3].map { DocumentKey(.int($0)) })
        #expect(states[DocumentKey(.int(1))] == .unknown)
        #expect(states[DocumentKey(.int(2))]?.tombstone?.time == 500)
        #expect(states[DocumentKey(.int(3))]?.isAlive == true)
        #expect(try ledger.history(ns, DocumentKey(.int(1))).isEmpty)
    }

    @Test("a version 1 ledger opens, reads its states and is marked version 3; a newer one is refused")
    func versionOneUpgradesAndNewerIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        do {
            let ledger = try SQLiteLedger(path: path)
            try ledger.commit(LedgerBatch(deltas: [set(ns, 1, "name", .string("x"), time: 10)]))
        }
        do {
            // What version 1 wrote for qty = 4 at (11, 0, "b"): flags, count, name, value, whole stamp.
            let db = try SQLiteDatabase(path: path)
            let v1: [UInt8] = [0, 1, 3] + Array("qty".utf8) + [1, 3, 0, 0, 0, 0, 0, 0, 0, 4] + [0, 0, 0, 0, 0, 0, 0, 11, 0, 1, UInt8(ascii: "b")]
            try db.prepare("UPDATE documents SET state = ?").run([.blob(v1)])
            try db.execute("UPDATE ledger_meta SET value = '1' WHERE name = 'schema_version'")
        }
        do {
            let ledger = try SQLiteLedger(path: path)
            let state = try #require(try ledger.states(ns, [DocumentKey(.int(1))])[DocumentKey(.int(1))])
            #expect(state.liveValues == ["qty": .int(4)])
            #expect(state.attributes["qty"]?.stamp == Stamp(time: 11, origin: "b"))
            try ledger.commit(LedgerBatch(deltas: [set(ns, 1, "name", .string("y"), time: 12)]))
            #expect(try ledger.states(ns, [DocumentKey(.int(1))])[DocumentKey(.int(1))]?.liveValues == ["qty": .int(4), "name": .string("y")])
        }
        let db = try SQLiteDatabase(path: path)
        #expect(try db.scalarText("SELECT value FROM ledger_meta WHERE name = 'schema_version'") == "3")
        try db.execute("UPDATE ledger_meta SET value = '4' WHERE name = 'schema_version'")
        #expect {
            _ = try SQLiteLedger(path: path)
        } throws: { error in
            "\(error)".contains("schema version 4") && "\(error)".contains("newer deltabridge")
        }
    }

    @Test("a damaged or foreign file gives an error that names the fix")
    func badFile() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: LedgerError.self) { try SQLiteLedger(path: dir.file("missing-folder/ledger.sqlite")) }
        do {
            _ = try SQLiteLedger(path: dir.file("missing-folder/ledger.sqlite"))
        } catch let error as LedgerError {
            #expect(error.message.contains("folder exists"))
        }
    }
}
