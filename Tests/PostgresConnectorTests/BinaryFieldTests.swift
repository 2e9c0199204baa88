import DeltaConnector
import DeltaCore
import Testing
@testable import PostgresConnector

/// Binary COPY fields: exact bytes without a server, and against a real PostgreSQL that a binary
/// field stores exactly what the text literal of the same value stores (DELTABRIDGE_PG_URL).
@Suite struct BinaryFieldTests {
    typealias T = PostgresTypeOID

    static func type(_ oid: UInt32, _ typeModifier: Int32, _ cast: String) -> PostgresColumnType {
        PostgresColumnType(oid: oid, typeModifier: typeModifier, kind: .mapped(oid), castName: cast)
    }

    static func type(_ oid: UInt32, _ cast: String) -> PostgresColumnType { type(oid, -1, cast) }

    static func field(_ value: Value, _ type: PostgresColumnType) throws -> [UInt8] {
        var out: [UInt8] = []
        try PostgresBinaryField.append(value, type, to: &out)
        return out
    }

    @Test func exactBytes() throws {
        #expect(try Self.field(.null, Self.type(T.int8, "int8")) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try Self.field(.int(-2), Self.type(T.int8, "int8")) == [0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
        #expect(try Self.field(.int(258), Self.type(T.int2, "int2")) == [0, 0, 0, 2, 1, 2])
        #expect(try Self.field(.bool(true), Self.type(T.bool, "bool")) == [0, 0, 0, 1, 1])
        // 2000-01-01 UTC is PostgreSQL's epoch; infinity stays Int64.max.
        #expect(try Self.field(.timestamp(946_684_800_000_001), Self.type(T.timestamptz, "timestamptz")) == [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(try Self.field(.timestamp(Int64.max), Self.type(T.timestamp, "timestamp")) == [0, 0, 0, 8, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try Self.field(.object(["a": .int(1)]), Self.type(T.jsonb, "jsonb")) == [0, 0, 0, 8, 1] + Array(#"{"a":1}"#.utf8))
        // numeric: ndigits, weight, sign, dscale, then base-10000 digits.
        let numeric = Self.type(T.numeric, "numeric")
        #expect(try Self.field(.decimal(ExactDecimal("123.45")!), numeric) == [0, 0, 0, 12, 0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94])
        #expect(try Self.field(.decimal(ExactDecimal("-0.001")!), numeric) == [0, 0, 0, 10, 0, 1, 0xFF, 0xFF, 0x40, 0, 0, 3, 0, 10])
        #expect(try Self.field(.decimal(ExactDecimal("1e5")!), numeric) == [0, 0, 0, 10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 10])
        #expect(try Self.field(.decimal(ExactDecimal("0")!), numeric) == [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(try Self.field(.decimal(ExactDecimal("NaN")!), numeric) == [0, 0, 0, 8, 0, 0, 0, 0, 0xC0, 0, 0, 0])
    }

    @Test func refusesWhatTheLiteralRefusesWithItsReason() {
        let cases: [(Value, PostgresColumnType)] = [
            (.int(70_000), Self.type(T.int2, "int2")),
            (.string("12x"), Self.type(T.int4, "int4")),
            (.string("abc"), Self.type(T.numeric, "numeric")),
            (.decimal(ExactDecimal("123456789012.5")!), Self.type(T.numeric, (12 << 16 | 2) + 4, "numeric")),
            (.double(1e300), Self.type(T.float4, "float4")),
            (.string("too long"), Self.type(T.varchar, 9, "varchar")),
            (.string("nul\u{0}"), Self.type(T.text, "text")),
            (.string("not a uuid"), Self.type(T.uuid, "uuid")),
            (.bool(true), Self.type(T.timestamptz, "timestamptz")),
            (.timestamp(PostgresTimestamp.minimumMicros - 1), Self.type(T.timestamp, "timestamp")),
        ]
        for (value, type) in cases {
            var literalReason: String?
            do { _ = try type.literal(for: value) } catch { literalReason = error.reason }
            var binaryReason: String?
            do { _ = try Self.field(value, type) } catch { binaryReason = (error as? PgValueMappingError)?.reason }
            #expect(literalReason != nil, "\(value) into \(type.castName)")
            #expect(binaryReason == literalReason, "\(value) into \(type.castName)")
        }
    }

    /// Every supported type, with the values stores deliver (and lenient text forms): the binary
    /// field must store what the text literal stores, compared by the server.
    @Test func storesWhatTheTextLiteralStores() throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        let decimals = ["123.45", "-0.001", "1e5", "0", "99999999999999999999.123456789", "-1.5E-7", "NaN", "1234.5678"]
            .map { Value.decimal(ExactDecimal($0)!) }
        let columns: [(String, PostgresColumnType, [Value])] = [
            ("int2", Self.type(T.int2, "int2"), [.int(-32768), .int(32767), .double(12), .string(" 42 ")]),
            ("int4", Self.type(T.int4, "int4"), [.int(Int64(Int32.min)), .int(7), .decimal(ExactDecimal("9")!)]),
            ("int8", Self.type(T.int8, "int8"), [.int(Int64.min), .int(Int64.max), .string("-5")]),
            ("float4", Self.type(T.float4, "float4"), [.double(3.14), .double(-0.0), .double(.nan), .double(.infinity), .int(16_777_217), .string("1.1")]),
            ("float8", Self.type(T.float8, "float8"), [.double(0.1), .double(-.infinity), .double(1e-300), .decimal(ExactDecimal("2.5")!), .string("NaN")]),
            ("bool", Self.type(T.bool, "bool"), [.bool(false), .int(1), .string("yes"), .string("off")]),
            ("text", Self.type(T.text, "text"), [.string(""), .string("tab\tnew\nline \\ é 😀")]),
            ("varchar(5)", Self.type(T.varchar, 9, "varchar"), [.string("abcde"), .string("ab   ")]),
            ("char(4)", Self.type(T.bpchar, 8, "bpchar"), [.string("ab"), .string("abcd")]),
            ("name", Self.type(T.name, "name"), [.string("a_name")]),
            ("bytea", Self.type(T.bytea, "bytea"), [.bytes([]), .bytes([0, 1, 0xFF])]),
            ("uuid", Self.type(T.uuid, "uuid"), [.string("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), .bytes(Array(0..<16))]),
            ("timestamp", Self.type(T.timestamp, "timestamp"), [.timestamp(0), .timestamp(-1), .timestamp(Int64.min), .string("2024-02-29 12:00:00.5+05:30")]),
            ("timestamptz", Self.type(T.timestamptz, "timestamptz"), [.timestamp(1_700_000_000_123_456), .timestamp(Int64.max), .string("1999-12-31 23:59:59.999999 BC")]),
            ("json", Self.type(T.json, "json"), [.object(["b": .array([.int(1), .null])]), .string("s")]),
            ("jsonb", Self.type(T.jsonb, "jsonb"), [.object(["a": .decimal(ExactDecimal("1.50")!), "t": .string("x\ny")]), .array([]), .bool(true)]),
            ("numeric", Self.type(T.numeric, "numeric"), decimals + [.int(-42), .double(0.25), .string("7.000")]),
            ("numeric(12,2)", Self.type(T.numeric, (12 << 16 | 2) + 4, "numeric"), [.decimal(ExactDecimal("1.235")!), .decimal(ExactDecimal("-9999999999.99")!), .int(3)]),
        ]
        for (i, (sqlType, type, values)) in columns.enumerated() {
            try db.exec("CREATE TABLE b\(i) (k int, v \(sqlType)); CREATE TABLE t\(i) (k int, v \(sqlType))")
            var data = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            for (k, value) in (values + [.null]).enumerated() {
                PostgresBinaryField.appendUInt16(2, &data)
                data += try Self.field(.int(Int64(k)), Self.type(T.int4, "int4"))
                data += try Self.field(value, type)
                try db.exec("INSERT INTO t\(i) VALUES ($1::int, $2::\(sqlType))", [String(k), try type.literal(for: value)])
            }
            data += [0xFF, 0xFF]
            try db.conn.copyIn("COPY b\(i) (k, v) FROM STDIN (FORMAT binary)", data: data)
            let compare = sqlType == "json" ? "b.v::text IS DISTINCT FROM t.v::text" : "b.v IS DISTINCT FROM t.v"
            let differing = try db.rows("SELECT k, b.v::text, t.v::text FROM b\(i) b JOIN t\(i) t USING (k) WHERE \(compare)")
            #expect(differing.isEmpty, "\(sqlType): binary and text stored differently: \(differing)")
            #expect(try db.scalar("SELECT count(*) FROM b\(i)") == String(values.count + 1))
        }
    }

    /// A table whose columns all have binary fields: large groups go through binary COPY, straight
    /// in while keys are new and through the staging table after; a row the table refuses falls
    /// back to row by row (text parameters made from the binary row's values), and only it is refused.
    @Test func binaryTablesCopyInBinaryAndFallBackRowByRow() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("""
            CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL DEFAULT '', qty int4 CHECK (qty >= 0),
                                price numeric(12,2), tags jsonb, seen timestamptz)
            """)
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "items", keyAttributes: ["id"])])
        let tricky = "tab\there, newline\nand\r\\back\\slash \\N é 😀"
        func patches(_ ids: ClosedRange<Int>, qty: Int64, bad: Int? = nil) -> [DocumentPatch] {
            ids.map { i in
                DocumentPatch(collection: "items", key: ["id": .int(Int64(i))],
                              action: .upsert(set: ["name": .string(i % 3 == 0 ? tricky : "n\(i)"), "qty": .int(i == bad ? -1 : qty),
                                                    "price": .decimal(ExactDecimal("\(i).125")!), "tags": i % 2 == 0 ? .array([.string("a"), .null]) : .null,
                                                    "seen": .timestamp(1_700_000_000_000_000 + Int64(i))], unset: []))
            }
        }
        let first = try await sink.apply(patches(1...300, qty: 1))
        #expect(first.allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FROM items") == "300")
        #expect(try db.scalar("SELECT count(*) FROM items WHERE name = $1", [tricky]) == "100")
        #expect(try db.scalar("SELECT price::text FROM items WHERE id = 7") == "7.13")
        #expect(try db.scalar("SELECT tags::text FROM items WHERE id = 2") == #"["a", null]"#)
        #expect(try db.scalar("SELECT tags IS NULL FROM items WHERE id = 1") == "t")
        #expect(try db.scalar("SELECT extract(epoch FROM seen)::text FROM items WHERE id = 5") == "1700000000.000005")
        // Existing keys: the staging path, in binary too.
        let second = try await sink.apply(patches(1...200, qty: 2))
        #expect(second.allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'deltabridge\\_stage\\_%' AND relpersistence = 't'") == "1")
        // One refused row: the group falls back to row by row, and only that row is refused.
        let third = try await sink.apply(patches(1...200, qty: 4, bad: 150))
        #expect(third.enumerated().allSatisfy { i, r in i == 149 ? r != .applied : r == .applied })
        guard case let .rejected(reason) = third[149] else { Issue.record("row 150 should be refused"); return }
        #expect(reason.contains("items_qty_check"))
        #expect(try db.scalar("SELECT sum(qty) FROM items") == String(199 * 4 + 2 + 100))
        // A value the column cannot hold is refused before any write, naming the column.
        var bad = patches(301...400, qty: 3)
        bad[10] = DocumentPatch(collection: "items", key: ["id": .int(311)], action: .upsert(set: ["qty": .string("many")], unset: []))
        let fourth = try await sink.apply(bad)
        #expect(fourth.enumerated().allSatisfy { i, r in i == 10 ? r != .applied : r == .applied })
        guard case let .rejected(why) = fourth[10] else { Issue.record("row 311 should be refused"); return }
        #expect(why.contains("column 'qty'"), "\(why)")
        #expect(try db.scalar("SELECT count(*) FROM items") == "399")
    }

    /// A column added while the bridge runs is found by reading the table again within a batch;
    /// if it has no binary form, the batch's later rows are planned as text while its earlier
    /// rows are binary. One group then holds both (the sink sends it as text COPY), and every
    /// row lands with its values.
    @Test func aGroupOfBinaryAndTextRowsGoesAsText() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id int8 PRIMARY KEY, v int4)")
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "items", keyAttributes: ["id"])])
        #expect(try await sink.apply([DocumentPatch(collection: "items", key: ["id": .int(0)], action: .upsert(set: ["v": .int(0)], unset: []))]) == [.applied])
        try db.exec("ALTER TABLE items ADD COLUMN d date")
        var patches: [DocumentPatch] = []
        for i in 1...200 {
            var set: [String: Value] = ["v": .int(Int64(i))]
            if i == 101 { set["d"] = .string("2024-02-29") }
            patches.append(DocumentPatch(collection: "items", key: ["id": .int(Int64(i))], action: .upsert(set: set, unset: [])))
        }
        let results = try await sink.apply(patches)
        #expect(results.allSatisfy { $0 == .applied } && results.count == 200)
        #expect(try db.scalar("SELECT count(*) FROM items WHERE v = id") == "201")
        #expect(try db.scalar("SELECT d::text FROM items WHERE id = 101") == "2024-02-29")
    }

    /// A large batch streams its first rows into a COPY while the rest are planned; rows of
    /// another column list take the grouped path. A table whose shape is not known yet needs the
    /// connection, so that COPY is ended before the shape is read; later rows stream into a COPY
    /// of their own or take the grouped path.
    @Test func aStreamedCopyEndsBeforeAnotherTableIsRead() async throws {
        let db = try PGTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE a (id int8 PRIMARY KEY, v int4, u int4); CREATE TABLE b (id int8 PRIMARY KEY, w text)")
        let sink = PostgresSink(config: db.config())
        try await sink.prepare(collections: [CollectionSpec(name: "a", keyAttributes: ["id"])])
        func rows(_ table: String, _ ids: ClosedRange<Int>) -> [DocumentPatch] {
            ids.map { i in
                DocumentPatch(collection: table, key: ["id": .int(Int64(i))],
                              action: .upsert(set: table == "b" ? ["w": .string("w\(i)")]
                                                  : i % 10 == 0 ? ["v": .int(Int64(i)), "u": .int(-1)] : ["v": .int(Int64(i))], unset: []))
            }
        }
        let results = try await sink.apply(rows("a", 1...100) + rows("b", 1...100) + rows("a", 101...150))
        #expect(results.count == 250 && results.allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FROM a WHERE v = id") == "150")
        // Every tenth row writes one more column: another statement's rows, planned beside the COPY.
        #expect(try db.scalar("SELECT count(*) FROM a WHERE u = -1") == "15")
        #expect(try db.scalar("SELECT count(*) FROM b WHERE w = 'w' || id") == "100")
        // Keys both tables hold, among new ones: each COPY meets them; every row still lands.
        let again = try await sink.apply(rows("b", 51...150) + rows("a", 101...200))
        #expect(again.allSatisfy { $0 == .applied })
        #expect(try db.scalar("SELECT count(*) FROM a") == "200")
        #expect(try db.scalar("SELECT count(*) FROM b") == "150")
    }
}
