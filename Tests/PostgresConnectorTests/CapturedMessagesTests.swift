import Testing
import DeltaCore
@testable import PostgresConnector

/// Decodes the pgoutput bytes captured from PostgreSQL 15 by Fixtures/capture.sh and checks every message
/// and every value against the DML in that script.
@Suite struct CapturedMessagesTests {
    let capture: DecodedCapture

    init() throws {
        capture = try DecodedCapture(CapturedPgOutput.peekV1)
    }

    private static func kind(_ m: PgOutputMessage) -> String {
        switch m {
        case .begin: "B"
        case .commit: "C"
        case .origin: "O"
        case .relation: "R"
        case .type: "Y"
        case .insert: "I"
        case .update: "U"
        case .delete: "D"
        case .truncate: "T"
        case .message: "M"
        }
    }

    /// The rows of transaction number `n` (0-based, in commit order), Begin through Commit.
    private func transaction(_ n: Int) -> [DecodedCapture.Row] {
        var found = -1
        var rows: [DecodedCapture.Row] = []
        for row in capture.rows {
            if case .begin = row.message { found += 1 }
            if found == n, row.captured.xid != 0 { rows.append(row) }
            if found == n, case .commit = row.message { return rows }
        }
        return rows
    }

    private func ts(_ iso: String) -> Value { .timestamp(Timestamps.parseISO8601(iso)!) }

    @Test func messageSequenceMatchesTheCapturedDML() {
        let kinds = capture.messages.map(Self.kind).joined(separator: " ")
        #expect(kinds == [
            "B Y Y Y R I I I C",   // T1: three inserts into all_types
            "B U C",               // T2: non-key update
            "B U C",               // T3: key update
            "B D C",               // T4: delete
            "B R I C", "B U C", "B D C", // T5: replica identity full
            "B R I I C",           // T6: sales."Örders"
            // T7 (not_published): nothing at all, not even an empty Begin/Commit
            "B R I C", "B R I C",  // T8: trunc_a, trunc_b inserts
            "B R T C",             // TRUNCATE full_ident (Relation re-sent: truncate invalidates it)
            "B R R T C",           // TRUNCATE trunc_a, trunc_b RESTART IDENTITY CASCADE
            "B M I C",             // T9: transactional message
            "M",                   // non-transactional message
            "B Y Y Y R U C",       // T10: after ALTER TABLE, Type and Relation messages again
            "B R I I I I C",       // T11: tz_only
            "B O I C", "B O I C", "B O I C", // T12, T13: replication origin
        ].joined(separator: " "))
        #expect(CapturedPgOutput.protoVersion2IsIdentical)
    }

    @Test func transactionsAreConsistent() throws {
        var begin: (row: DecodedCapture.Row, begin: PgOutputMessage.Begin)?
        var firstChangeLSN: String?
        var transactions = 0
        for (index, row) in capture.rows.enumerated() {
            switch row.message {
            case let .begin(b):
                #expect(begin == nil)
                begin = (row, b)
                firstChangeLSN = capture.rows[index + 1].captured.lsn
                #expect(b.xid == row.captured.xid)
                // peek reports a Begin at the LSN of the transaction's first change, not at finalLSN.
                #expect(row.captured.lsn == firstChangeLSN)
                #expect(row.decoder.transaction == b)
                #expect(row.decoder.transactionOrigin == nil)
            case let .commit(c):
                let b = try #require(begin).begin
                #expect(c.flags == 0)
                #expect(c.commitLSN == b.finalLSN)
                #expect(c.endLSN == LSN(row.captured.lsn))
                #expect(c.endLSN > c.commitLSN)
                #expect(c.commitTime == b.commitTime)
                #expect(row.captured.xid == b.xid)
                #expect(row.decoder.transaction == nil)
                #expect(row.decoder.transactionOrigin == nil)
                begin = nil
                transactions += 1
            case let .message(m) where !m.transactional:
                #expect(begin == nil)
                #expect(row.captured.xid == 0)
                #expect(m.lsn == LSN(row.captured.lsn))
            default:
                let b = try #require(begin).begin
                #expect(row.captured.xid == b.xid)
                #expect(row.decoder.transaction == b)
            }
        }
        #expect(transactions == 18)
        #expect(begin == nil)
    }

    @Test func commitTimesAreUnixMicroseconds() throws {
        let window = CapturedPgOutput.captureStartMicros...CapturedPgOutput.captureEndMicros
        var times: [Int64] = []
        for row in capture.rows {
            guard case let .begin(b) = row.message, row.captured.xid < transaction(15)[0].captured.xid else { continue }
            let t = try #require(b.commitTime)
            #expect(window.contains(t), "commit time \(Timestamps.iso8601(micros: t)) outside the capture window")
            times.append(t)
        }
        #expect(times.count == 15)
        #expect(times == times.sorted())
    }

    @Test func typeMessagesNameEnumsArraysAndTheBaseTypeOfDomains() throws {
        let rows = transaction(0)
        guard case let .type(mood) = rows[1].message, case let .type(moodArray) = rows[2].message,
              case let .type(domain) = rows[3].message else {
            Issue.record("expected three Type messages")
            return
        }
        #expect(mood.namespace == "public")
        #expect(mood.name == "mood")
        #expect(moodArray.namespace == "public")
        #expect(moodArray.name == "_mood")
        // A domain (posint over int4) arrives with its own OID but its base type's name, in pg_catalog ("").
        #expect(domain.namespace == "")
        #expect(domain.name == "int4")
        #expect(PostgresTypeOID.resolve(domain.oid, types: rows[3].decoder.types) == PostgresTypeOID.int4)
        #expect(PostgresTypeOID.resolve(mood.oid, types: rows[3].decoder.types) == mood.oid)
        let relation = try #require(rows[4].decoder.relation(named: "all_types"))
        #expect(relation.columns.first { $0.name == "c_mood" }?.typeOID == mood.oid)
        #expect(relation.columns.first { $0.name == "c_mood_arr" }?.typeOID == moodArray.oid)
        #expect(relation.columns.first { $0.name == "c_posint" }?.typeOID == domain.oid)
    }

    @Test func relationOfAllTypes() throws {
        let relation = try #require(transaction(0)[4].decoder.relation(named: "all_types"))
        #expect(relation.namespace == "public")
        #expect(relation.replicaIdentity == .default)
        typealias T = PostgresTypeOID
        let expected: [(String, UInt32?, Int32)] = [
            ("id", T.int4, -1), ("c_int2", T.int2, -1), ("c_int4", T.int4, -1), ("c_int8", T.int8, -1),
            ("c_numeric", T.numeric, -1), ("c_numeric_scaled", T.numeric, (12 << 16 | 3) + 4),
            ("c_float4", T.float4, -1), ("c_float8", T.float8, -1), ("c_bool", T.bool, -1),
            ("c_text", T.text, -1), ("c_varchar", T.varchar, 24), ("c_bpchar", T.bpchar, 9), ("c_name", T.name, -1),
            ("c_char", T.char, -1), ("c_bytea", T.bytea, -1), ("c_uuid", T.uuid, -1), ("c_date", T.date, -1),
            ("c_time", T.time, -1), ("c_timetz", T.timetz, -1), ("c_timestamp", T.timestamp, 3),
            ("c_timestamptz", T.timestamptz, -1), ("c_interval", T.interval, -1), ("c_json", T.json, -1),
            ("c_jsonb", T.jsonb, -1), ("c_int4_arr", 1007, -1), ("c_int4_arr2", 1007, -1), ("c_text_arr", 1009, -1),
            ("c_numeric_arr", 1231, -1), ("c_float8_arr", 1022, -1), ("c_bool_arr", 1000, -1),
            ("c_bytea_arr", 1001, -1), ("c_uuid_arr", 2951, -1), ("c_tstz_arr", 1185, -1), ("c_jsonb_arr", 3807, -1),
            ("c_mood", nil, -1), ("c_mood_arr", nil, -1), ("c_posint", nil, -1), ("c_inet", 869, -1), ("c_big", T.text, -1),
        ]
        #expect(relation.columns.map(\.name) == expected.map(\.0))
        for (column, (name, oid, typmod)) in zip(relation.columns, expected) {
            if let oid { #expect(column.typeOID == oid, "\(name)") }
            #expect(column.typeModifier == typmod, "\(name)")
            #expect(column.isKey == (name == "id"), "\(name)")
        }
        #expect(PostgresTypeOID.element(ofArray: 1007) == T.int4)
        #expect(PostgresTypeOID.array(of: T.int4) == 1007)
        // The element lookup (a switch) and the table agree on every OID, in both directions.
        for oid in UInt32(0) ..< 10_000 {
            #expect(PostgresTypeOID.element(ofArray: oid) == PostgresTypeOID.table.first { $0.array == oid }?.element, "oid \(oid)")
            if let element = PostgresTypeOID.element(ofArray: oid) { #expect(PostgresTypeOID.array(of: element) == oid) }
        }
    }

    @Test func otherRelations() throws {
        let last = capture.rows.last!.decoder
        let full = try #require(last.relation(named: "full_ident"))
        #expect(full.replicaIdentity == .full)
        // With REPLICA IDENTITY FULL every column is flagged as a key column: take the real key from the catalog.
        #expect(full.columns.map(\.isKey) == [true, true, true])
        #expect(full.columns.map(\.typeOID) == [PostgresTypeOID.int8, PostgresTypeOID.text, PostgresTypeOID.text])
        let orders = try #require(last.relation(named: "Örders"))
        #expect(orders.namespace == "sales")
        #expect(orders.columns.map(\.name) == ["order_no", "line", "qty"])
        #expect(orders.columns.map(\.isKey) == [true, true, false])
        #expect(last.relation(named: "not_published") == nil)
        let allTypes = try #require(last.relation(named: "all_types"))
        #expect(allTypes.columns.count == 40)
        #expect(allTypes.columns.last == .init(flags: 0, name: "c_added", typeOID: PostgresTypeOID.int8, typeModifier: -1))
        #expect(Set(last.relations.values.map(\.name)) == ["all_types", "full_ident", "Örders", "trunc_a", "trunc_b", "tz_only"])
    }

    private func insertValues(_ row: DecodedCapture.Row) throws -> [String: PgDecodedValue] {
        guard case let .insert(insert) = row.message else {
            Issue.record("not an insert: \(row.message)")
            return [:]
        }
        return row.decoder.values(insert.newTuple, of: insert.relationID)
    }

    @Test func firstRowHasEveryTypeWithTypicalValues() throws {
        let v = try insertValues(transaction(0)[5])
        let plain: [String: Value] = [
            "id": .int(1), "c_int2": .int(12), "c_int4": .int(123456), "c_int8": .int(1234567890123),
            "c_numeric": dec("3.14159"), "c_numeric_scaled": dec("1234.5"), "c_float4": .double(1.5),
            "c_float8": .double(2.718281828459045), "c_bool": .bool(true), "c_text": .string("héllo wörld ✓ 😀"),
            "c_varchar": .string("varchar val"), "c_bpchar": .string("ab   "), "c_name": .string("a_name"),
            "c_char": .string("x"), "c_bytea": .bytes([0xDE, 0xAD, 0xBE, 0xEF]),
            "c_uuid": .string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "c_date": .string("2024-02-29"),
            "c_time": .string("13:45:56.123456"), "c_timetz": .string("13:45:56.5+05:30"),
            "c_timestamp": ts("2024-02-29T23:59:59.123Z"), "c_timestamptz": ts("2024-02-29T23:59:59.123456Z"),
            "c_interval": .string("1 year 2 mons 3 days 04:05:06.789"),
            "c_json": .object(["b": .array([.int(1), .double(2.5), .string("x")]), "a": .object(["nested": .bool(true), "n": .null])]),
            "c_jsonb": .object([
                "z": .int(1), "a": .array([.int(1), .object(["deep": .array([.bool(true), .bool(false), .null])])]),
                "big": dec("12345678901234567890"), "pi": .double(3.14), "s": .string("quote\" é"),
            ]),
            "c_int4_arr": .array([.int(1), .int(2), .null]),
            "c_int4_arr2": .array([.array([.int(1), .int(2)]), .array([.int(3), .int(4)])]),
            "c_text_arr": .array([.string("a b"), .string("c\"d"), .string("e\\f"), .null, .string("NULL"), .string(""), .string("{x}"), .string("ü")]),
            "c_numeric_arr": .array([dec("1.5"), dec("-2"), dec("NaN")]),
            "c_float8_arr": .array([.double(1.5), .double(.infinity), .double(-.infinity), .double(.nan)]),
            "c_bool_arr": .array([.bool(true), .bool(false), .null]),
            "c_bytea_arr": .array([.bytes([0, 255]), .bytes([])]),
            "c_uuid_arr": .array([.string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]),
            "c_tstz_arr": .array([ts("2024-01-01T00:00:00Z"), ts("1999-12-31T23:59:59.5Z")]),
            "c_jsonb_arr": .array([.object(["k": .array([.int(1)])]), .string("str")]),
            "c_posint": .int(42),
            "c_big": .string(String(repeating: "toast-", count: 600)),
        ]
        let fallbacks: [String: String] = ["c_mood": "happy", "c_mood_arr": "{sad,ok}", "c_inet": "192.168.0.1/24"]
        #expect(Set(v.keys) == Set(plain.keys).union(fallbacks.keys))
        for (name, expected) in plain {
            #expect(v[name] == PgDecodedValue(expected), "\(name)")
        }
        for (name, text) in fallbacks {
            #expect(v[name] == PgDecodedValue(.string(text), isFallback: true), "\(name)")
        }
        // An enum array decodes element-wise once the caller knows its element type (still flagged).
        #expect(PostgresValueMapping.decodeArray("{sad,ok}", elementOID: 16385)
                == PgDecodedValue(.array([.string("sad"), .string("ok")]), isFallback: true))
    }

    @Test func secondRowHasEdgeValues() throws {
        let v = try insertValues(transaction(0)[6])
        let expected: [String: Value] = [
            "id": .int(2), "c_int2": .int(-32768), "c_int4": .int(-2147483648), "c_int8": .int(Int64.min),
            "c_numeric": dec("-123456789012345678901234567890.123456"), "c_numeric_scaled": dec("-999999999.999"),
            "c_float4": .double(.nan), "c_float8": .double(-.infinity), "c_bool": .bool(false),
            "c_text": .string("tab\there\nnewline \"quoted\" back\\slash"), "c_varchar": .string(""),
            "c_bpchar": .string("abcde"), "c_bytea": .bytes([0]), "c_date": .string("0044-03-15 BC"),
            "c_timestamp": .timestamp(0), "c_timestamptz": .timestamp(-1), "c_interval": .string("-1 days -00:00:01"),
            "c_json": .array([]), "c_jsonb": .string("just a string"), "c_int4_arr": .array([]), "c_text_arr": .array([]),
            "c_float8_arr": .array([.double(-0.0), .double(1e-300), .double(1.7976931348623157e308)]),
        ]
        for (name, value) in v {
            #expect(value == PgDecodedValue(expected[name] ?? .null), "\(name)")
        }
        #expect(v.count == 39)
        if case let .array(floats)? = v["c_float8_arr"]?.value, case let .double(negativeZero) = floats[0] {
            #expect(negativeZero.sign == .minus)
        } else {
            Issue.record("c_float8_arr")
        }
    }

    @Test func thirdRowIsAllNull() throws {
        let v = try insertValues(transaction(0)[7])
        #expect(v.count == 39)
        #expect(v["id"] == PgDecodedValue(.int(3)))
        #expect(v.filter { $0.key != "id" }.allSatisfy { $0.value == PgDecodedValue(.null) })
    }

    @Test func updateWithDefaultIdentityMarksUnchangedToast() throws {
        let row = transaction(1)[1]
        guard case let .update(u) = row.message else { Issue.record("expected an update"); return }
        #expect(u.oldKey == nil)
        #expect(u.oldTuple == nil)
        let relation = try #require(row.decoder.relations[u.relationID])
        let big = try #require(relation.columns.firstIndex { $0.name == "c_big" })
        #expect(u.newTuple.columns[big] == .unchangedToast)
        #expect(u.newTuple.columns.filter { $0 == .unchangedToast }.count == 1)
        let v = row.decoder.values(u.newTuple, of: u.relationID)
        #expect(v["c_text"] == PgDecodedValue(.string("updated")))
        #expect(v["c_int4"] == PgDecodedValue(.null))
        #expect(v["c_int2"] == PgDecodedValue(.int(12)))
        #expect(v["c_big"] == nil)
        #expect(v.count == 38)
    }

    @Test func keyChangeSendsTheOldKey() throws {
        let row = transaction(2)[1]
        guard case let .update(u) = row.message else { Issue.record("expected an update"); return }
        let oldKey = try #require(u.oldKey)
        #expect(u.oldTuple == nil)
        #expect(oldKey.columns.first == .text(Array("1".utf8)))
        #expect(oldKey.columns.dropFirst().allSatisfy { $0 == .null })
        #expect(oldKey.columns.count == 39)
        let v = row.decoder.values(u.newTuple, of: u.relationID)
        #expect(v["id"] == PgDecodedValue(.int(10)))
        #expect(v["c_text"] == PgDecodedValue(.string("updated")))
        #expect(v["c_big"] == nil)
    }

    @Test func deleteWithDefaultIdentitySendsTheKey() throws {
        let row = transaction(3)[1]
        guard case let .delete(d) = row.message else { Issue.record("expected a delete"); return }
        #expect(d.oldTuple == nil)
        let key = try #require(d.oldKey)
        #expect(row.decoder.values(key, of: d.relationID)["id"] == PgDecodedValue(.int(2)))
        #expect(key.columns.dropFirst().allSatisfy { $0 == .null })
    }

    @Test func replicaIdentityFullSendsTheWholeOldRow() throws {
        let big = Value.string(String(repeating: "full-", count: 800))
        let insert = transaction(4)[2]
        #expect(try insertValues(insert) == ["id": PgDecodedValue(.int(7)), "note": PgDecodedValue(.string("first")), "big": PgDecodedValue(big)])

        let updateRow = transaction(5)[1]
        guard case let .update(u) = updateRow.message else { Issue.record("expected an update"); return }
        #expect(u.oldKey == nil)
        let old = try #require(u.oldTuple)
        // The old row carries the TOASTed value in full; the new row marks it unchanged.
        #expect(updateRow.decoder.values(old, of: u.relationID) == ["id": PgDecodedValue(.int(7)), "note": PgDecodedValue(.string("first")), "big": PgDecodedValue(big)])
        #expect(u.newTuple.columns[2] == .unchangedToast)
        #expect(updateRow.decoder.values(u.newTuple, of: u.relationID) == ["id": PgDecodedValue(.int(7)), "note": PgDecodedValue(.string("second"))])

        let deleteRow = transaction(6)[1]
        guard case let .delete(d) = deleteRow.message else { Issue.record("expected a delete"); return }
        #expect(d.oldKey == nil)
        let gone = try #require(d.oldTuple)
        #expect(deleteRow.decoder.values(gone, of: d.relationID) == ["id": PgDecodedValue(.int(7)), "note": PgDecodedValue(.string("second")), "big": PgDecodedValue(big)])
    }

    @Test func schemaQualifiedCompositeKeyInserts() throws {
        let rows = transaction(7)
        #expect(try insertValues(rows[2]) == ["order_no": PgDecodedValue(.int(100)), "line": PgDecodedValue(.int(1)), "qty": PgDecodedValue(.int(5))])
        #expect(try insertValues(rows[3]) == ["order_no": PgDecodedValue(.int(100)), "line": PgDecodedValue(.int(2)), "qty": PgDecodedValue(.int(-3))])
    }

    @Test func truncates() throws {
        let last = capture.rows.last!.decoder
        let full = try #require(last.relation(named: "full_ident")).id
        let a = try #require(last.relation(named: "trunc_a")).id
        let b = try #require(last.relation(named: "trunc_b")).id
        guard case let .truncate(plain) = transaction(10)[2].message,
              case let .truncate(both) = transaction(11)[3].message else {
            Issue.record("expected truncates")
            return
        }
        #expect(plain == .init(options: 0, relationIDs: [full]))
        #expect(!plain.cascade && !plain.restartIdentity)
        #expect(both.relationIDs == [a, b])
        #expect(both.cascade && both.restartIdentity)
    }

    @Test func logicalMessages() throws {
        let rows = transaction(12)
        guard case let .message(inTx) = rows[1].message else { Issue.record("expected a message"); return }
        #expect(inTx.transactional)
        #expect(inTx.prefix == "deltabridge")
        #expect(String(decoding: inTx.content, as: UTF8.self) == "in-tx ü")
        #expect(inTx.lsn == LSN(rows[1].captured.lsn))
        #expect(try insertValues(rows[2])["order_no"] == PgDecodedValue(.int(101)))
        let lone = try #require(capture.rows.first { $0.captured.xid == 0 })
        #expect(lone.message == .message(.init(transactional: false, lsn: LSN(lone.captured.lsn)!, prefix: "deltabridge", content: [0, 255])))
        #expect(lone.decoder.transaction == nil)
    }

    @Test func schemaChangeResendsTheRelation() throws {
        let rows = transaction(13)
        guard case let .relation(r) = rows[4].message, case let .update(u) = rows[5].message else {
            Issue.record("expected relation and update")
            return
        }
        #expect(r.columns.count == 40)
        let v = rows[5].decoder.values(u.newTuple, of: u.relationID)
        #expect(v["id"] == PgDecodedValue(.int(3)))
        #expect(v["c_added"] == PgDecodedValue(.int(8)))
        #expect(v["c_big"] == PgDecodedValue(.null))
    }

    @Test func timestampsInUTCAndAnotherTimeZoneDecodeToTheSameInstant() throws {
        let utc = transaction(14)
        let kolkata = try DecodedCapture(CapturedPgOutput.peekKolkata)
        #expect(kolkata.rows.count == utc.count)
        let expected: [[String: Value]] = [
            ["id": .int(1), "ts": ts("2024-06-01T12:00:00.25Z"), "ts_arr": .array([ts("2024-06-01T12:00:00Z"), ts("1900-01-01T00:00:00Z")]), "t": .string("12:00:00-03:30")],
            ["id": .int(2), "ts": ts("1900-01-01T00:00:00Z"), "ts_arr": .null, "t": .string("00:00:00+14")],
            ["id": .int(3), "ts": .timestamp(Int64.max), "ts_arr": .array([.timestamp(Int64.min)]), "t": .null],
            ["id": .int(4), "ts": ts("0001-01-01T00:00:00Z"), "ts_arr": .null, "t": .null],
        ]
        for (n, values) in expected.enumerated() {
            #expect(try insertValues(utc[2 + n]) == values.mapValues { PgDecodedValue($0) }, "UTC row \(n)")
            #expect(try insertValues(kolkata.rows[2 + n]) == values.mapValues { PgDecodedValue($0) }, "Kolkata row \(n)")
        }
        // The text really differs: the walsender formats timestamptz in its session's TimeZone.
        guard case let .insert(i) = kolkata.rows[3].message else { Issue.record("insert"); return }
        #expect(i.newTuple.columns[1].text == "1900-01-01 05:21:10+05:21:10")
        guard case let .insert(j) = utc[3].message else { Issue.record("insert"); return }
        #expect(j.newTuple.columns[1].text == "1900-01-01 00:00:00+00")
    }

    @Test func replicationOriginMarksBridgeWrites() throws {
        let withSetup = transaction(15)
        let stale = transaction(16)
        let withoutSetup = transaction(17)
        let setupTime = Timestamps.parseISO8601("2024-01-02T03:04:05.678901Z")!
        for rows in [withSetup, stale] {
            guard case let .begin(b) = rows[0].message else { Issue.record("begin"); return }
            // pg_replication_origin_xact_setup's time replaces the commit time, and it sticks to later
            // transactions of the session that do not call it again.
            #expect(b.commitTime == setupTime)
            #expect(rows[1].message == .origin(.init(commitLSN: LSN(0xABCDEF), name: "deltabridge_test")))
            #expect(rows[2].decoder.transactionOrigin?.name == "deltabridge_test")
        }
        guard case let .begin(b) = withoutSetup[0].message, case let .commit(c) = withoutSetup[3].message else {
            Issue.record("begin/commit")
            return
        }
        #expect(b.commitTime == nil)
        #expect(c.commitTime == nil)
        #expect(withoutSetup[1].message == .origin(.init(commitLSN: .invalid, name: "deltabridge_test")))
        #expect(try insertValues(withoutSetup[2])["order_no"] == PgDecodedValue(.int(202)))
    }

    @Test func capturedValuesSurviveAnEncodeDecodeRoundTrip() throws {
        let row = transaction(0)[5]
        guard case let .insert(insert) = row.message else { Issue.record("insert"); return }
        let relation = try #require(row.decoder.relations[insert.relationID])
        for (column, value) in try #require(insert.newTuple.named(by: relation)) {
            guard let text = value.text else { continue }
            let oid = PostgresTypeOID.resolve(column.typeOID, types: row.decoder.types)
            let decoded = PostgresValueMapping.decode(text, typeOID: oid)
            let literal = try #require(try PostgresValueMapping.literal(for: decoded.value, typeOID: oid, typeModifier: column.typeModifier))
            #expect(PostgresValueMapping.decode(literal, typeOID: oid) == decoded, "\(column.name): \(literal)")
        }
    }
}
