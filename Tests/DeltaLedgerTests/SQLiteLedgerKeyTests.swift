import DeltaCore
@testable import DeltaLedger
import Foundation
import SQLiteSupport
import Testing

@Suite("SQLite ledger keys")
struct SQLiteLedgerKeyTests {
    let ns: Namespace = "items"

    /// Texts at the edges of the integer rule, each with the integer it must give (nil: stays text).
    static let edges: [(String, Int64?)] = [
        ("0", 0), ("7", 7), ("-7", -7), ("42", 42), ("1000000", 1_000_000),
        ("9223372036854775807", .max), ("-9223372036854775808", .min),
        ("9223372036854775808", nil), ("-9223372036854775809", nil), ("10000000000000000000", nil),
        ("-0", nil), ("00", nil), ("007", nil), ("-07", nil), ("+7", nil), ("7.0", nil), ("1e3", nil),
        (" 7", nil), ("7 ", nil), ("", nil), ("-", nil), ("--7", nil), ("7-", nil), ("abc", nil), ("٧", nil),
    ]

    @Test("a key is an integer exactly when its text is that integer's own decimal form")
    func swiftRule() {
        for (text, expected) in Self.edges {
            #expect(SQLiteLedgerKey.integer(text) == expected, "\(text)")
        }
        // The rule is a bijection: an integer's decimal text gives it back, and nothing else does.
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 2_000 {
            let n = Int64.random(in: .min ... .max, using: &generator) >> Int64.random(in: 0 ... 63, using: &generator)
            #expect(SQLiteLedgerKey.integer(String(n)) == n)
        }
        for text in Self.randomTexts(count: 5_000) {
            if let n = SQLiteLedgerKey.integer(text) { #expect(String(n) == text) }
        }
    }

    @Test("the upgrade's SQL form of the rule agrees with the Swift one")
    func sqlRuleAgrees() throws {
        let db = try SQLiteDatabase(path: ":memory:")
        try db.execute("CREATE TABLE t(key TEXT NOT NULL)")
        let texts = Self.edges.map(\.0) + Self.randomTexts(count: 5_000)
            + (0 ..< 200).map { _ in String(Int64.random(in: .min ... .max) >> Int64.random(in: 0 ... 63)) }
        let insert = try db.prepare("INSERT INTO t(key) VALUES (?)")
        for text in texts { try insert.run([.text(text)]) }
        let select = try db.prepare("SELECT key, \(SQLiteLedgerKey.sqlStoredForm(of: "key")), typeof(\(SQLiteLedgerKey.sqlStoredForm(of: "key"))) FROM t")
        var checked = 0
        while try select.step() {
            let text = select.text(0)
            if let n = SQLiteLedgerKey.integer(text) {
                #expect(select.text(2) == "integer" && select.int64(1) == n, "\(text)")
            } else {
                #expect(select.text(2) == "text" && select.text(1) == text, "\(text)")
            }
            checked += 1
        }
        #expect(checked == texts.count)
    }

    @Test("integer keys are stored as integers and text keys as text; 42 and \"42\" are one document")
    func storedForms() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        let ledger = try SQLiteLedger(path: path)
        let texts = ["007", "-0", "1e3", " 42", "9223372036854775808", "abc"]
        var deltas = [Delta(namespace: ns, key: DocumentKey(.int(42)), change: .set("a", .int(1)), stamp: Stamp(time: 1, origin: "a"))]
        deltas.append(Delta(namespace: ns, key: DocumentKey(.string("42")), change: .set("b", .int(2)), stamp: Stamp(time: 2, origin: "b")))
        deltas.append(Delta(namespace: ns, key: DocumentKey(.int(-5)), change: .set("a", .int(3)), stamp: Stamp(time: 1, origin: "a")))
        for (i, text) in texts.enumerated() {
            deltas.append(Delta(namespace: ns, key: DocumentKey(.string(text)), change: .set("t", .int(Int64(i))), stamp: Stamp(time: 1, origin: "a")))
        }
        try ledger.commit(LedgerBatch(deltas: deltas))

        let state = try #require(try ledger.states(ns, [DocumentKey(.string("42"))])[DocumentKey(.string("42"))])
        #expect(state.liveValues == ["a": .int(1), "b": .int(2)])
        for (i, text) in texts.enumerated() {
            #expect(try ledger.stateList(ns, [DocumentKey(.string(text))]).first?.liveValues == ["t": .int(Int64(i))], "\(text)")
        }
        let db = try SQLiteDatabase(path: path)
        let stored = try db.prepare("SELECT key, typeof(key) FROM documents ORDER BY key")
        var forms = [String: String]()
        while try stored.step() { forms[stored.text(0)] = stored.text(1) }
        #expect(forms == ["42": "integer", "-5": "integer", "007": "text", "-0": "text", "1e3": "text", " 42": "text",
                          "9223372036854775808": "text", "abc": "text"])
    }

    @Test("keys page through a namespace: integers in numeric order, then texts in text order")
    func paging() throws {
        let dir = try TemporaryDirectory()
        let ledger = try SQLiteLedger(path: dir.file("ledger.sqlite"))
        let texts = ["b", "007", "a", "-0", "10x"]
        var deltas = (-3 ..< 22).map { set(ns, $0, "a", .int(Int64($0)), time: 1) } + [set("other", 1, "a", .int(0), time: 1)]
        deltas += texts.map { Delta(namespace: ns, key: DocumentKey(.string($0)), change: .set("a", .int(0)), stamp: Stamp(time: 1, origin: "a")) }
        try ledger.commit(LedgerBatch(deltas: deltas))
        var seen = [String]()
        var after: DocumentKey?
        while true {
            let page = try ledger.keys(ns, after: after, limit: 7)
            if page.isEmpty { break }
            seen += page.map(\.canonical)
            after = page.last
        }
        #expect(seen == (-3 ..< 22).map(String.init) + texts.sorted())
    }

    @Test("a version 2 ledger is read as it is by commands that only look, and upgraded by the others: its integer keys become integers")
    func upgradeFromTextKeys() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        let keys: [DocumentKey] = [DocumentKey(.int(1)), DocumentKey(.int(10)), DocumentKey(.int(-5)), DocumentKey(.int(2)),
                                   DocumentKey(.string("007")), DocumentKey(.string("abc"))]
        var before = [DocumentState]()
        do {
            let ledger = try SQLiteLedger(path: path, options: .init(keepHistory: true))
            var batch = LedgerBatch()
            for (i, key) in keys.enumerated() {
                batch.deltas.append(Delta(namespace: ns, key: key, change: .set("n", .int(Int64(i))), stamp: Stamp(time: 10, origin: "a")))
                batch.writes.append(WriteRecord(store: "b", namespace: ns, key: key, attribute: "n", value: .int(Int64(i)), stamp: Stamp(time: 10, origin: "a")))
                batch.images.append(StoreImage(store: "a", namespace: ns, key: key, image: ["n": .int(Int64(i))]))
            }
            batch.deltas.append(Delta(namespace: ns, key: keys[3], change: .tombstone, stamp: Stamp(time: 20, origin: "a")))
            try ledger.commit(batch)
            before = try ledger.stateList(ns, keys)
        }
        do {
            // Version 2 declared every key column TEXT, which stores each key as its text.
            let db = try SQLiteDatabase(path: path)
            try db.transaction {
                for table in SQLiteLedgerSchema.keyedTables {
                    try db.execute("ALTER TABLE \(table.name) RENAME TO new_\(table.name)")
                }
                try db.execute("DROP INDEX dead_documents")
                try db.execute(SQLiteLedgerSchema.create.replacingOccurrences(of: "key NOT NULL", with: "key TEXT NOT NULL"))
                for table in SQLiteLedgerSchema.keyedTables {
                    try db.execute("INSERT INTO \(table.name) SELECT * FROM new_\(table.name); DROP TABLE new_\(table.name)")
                }
                try db.execute("UPDATE ledger_meta SET value = '2' WHERE name = 'schema_version'")
            }
            for table in SQLiteLedgerSchema.keyedTables {
                #expect(try db.scalarInt("SELECT count(*) FROM \(table.name) WHERE typeof(key) <> 'text'") == 0)
            }
        }
        do {
            // Looked at without an upgrade (as `lag` and `history` do, a daemon of an older build
            // may be running on it): it stays version 2 and is read by its text keys.
            let looking = try SQLiteLedger(path: path, options: .init(keepHistory: true, upgradesSchema: false))
            #expect(try looking.stateList(ns, keys) == before)
            #expect(try looking.history(ns, keys[0]).first?.change == .set("n", .int(0)))
            #expect(try looking.writes(store: "b", ns, keys[2])["n"]?.value == .int(2))
            #expect(try looking.keys(ns, after: nil, limit: 10).map(\.canonical) == ["-5", "007", "1", "10", "2", "abc"])
            let db = try SQLiteDatabase(path: path)
            #expect(try db.scalarText("SELECT value FROM ledger_meta WHERE name = 'schema_version'") == "2")
        }
        let ledger = try SQLiteLedger(path: path, options: .init(keepHistory: true))
        #expect(try ledger.stateList(ns, keys) == before)
        for (i, key) in keys.enumerated() {
            #expect(try ledger.writes(store: "b", ns, key)["n"]?.value == .int(Int64(i)), "\(key)")
            #expect(try ledger.images(store: "a", ns, [key])[key] == ["n": .int(Int64(i))], "\(key)")
            #expect(try ledger.history(ns, key).first?.change == .set("n", .int(Int64(i))), "\(key)")
        }
        #expect(try ledger.keys(ns, after: nil, limit: 10).map(\.canonical) == ["-5", "1", "2", "10", "007", "abc"])
        // The tombstoned document is still found by compaction, through the index made again.
        #expect(try ledger.compactTombstones(olderThan: 30) == 1)
        #expect(try ledger.keys(ns, after: nil, limit: 10).map(\.canonical) == ["-5", "1", "10", "007", "abc"])

        let db = try SQLiteDatabase(path: path)
        #expect(try db.scalarText("SELECT value FROM ledger_meta WHERE name = 'schema_version'") == "3")
        #expect(try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE name = 'dead_documents' AND tbl_name = 'documents'") == 1)
        #expect(try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE name LIKE '%_v2'") == 0)
        for table in SQLiteLedgerSchema.keyedTables {
            let forms = try db.prepare("SELECT key, typeof(key) FROM \(table.name)")
            while try forms.step() {
                let expected = SQLiteLedgerKey.integer(forms.text(0)) == nil ? "text" : "integer"
                #expect(forms.text(1) == expected, "\(table.name): \(forms.text(0))")
            }
        }
    }

    /// Short texts over digits, signs and a few other characters: most are not integers, many are.
    static func randomTexts(count: Int) -> [String] {
        let alphabet = Array("0123456789-+. e")
        let weights = [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 1, 1, 1, 1]
        let pool = zip(alphabet, weights).flatMap { Array(repeating: $0.0, count: $0.1) }
        return (0 ..< count).map { _ in String((0 ..< Int.random(in: 0 ... 21)).map { _ in pool.randomElement()! }) }
    }
}
