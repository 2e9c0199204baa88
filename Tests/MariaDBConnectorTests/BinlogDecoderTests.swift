import DeltaCore
import Testing
@testable import MariaDBConnector

/// The row decoder against binlog events captured from a real MariaDB 10.11 (Fixtures/capture.sh):
/// every type, boundaries, negatives, NULLs, UPDATE/DELETE images, a MINIMAL image, the
/// skip_replication flag and DDL.
@Suite struct MariaDBBinlogDecoderTests {
    let captured: CapturedEvents

    init() throws { captured = try CapturedEvents() }

    func dec(_ s: String) -> Value { .decimal(ExactDecimal(s)!) }

    @Test func integersAtTheirBoundaries() throws {
        let rows = captured.rows("t_int").compactMap(\.row.after)
        try #require(rows.count >= 4)
        #expect(rows[0] == ["id": .int(1), "ti": .int(-128), "tiu": .int(0), "si": .int(-32768), "siu": .int(0), "mi": .int(-8388608),
                            "miu": .int(0), "i": .int(-2147483648), "iu": .int(0), "bi": .int(.min), "biu": .int(0)])
        #expect(rows[1] == ["id": .int(2), "ti": .int(127), "tiu": .int(255), "si": .int(32767), "siu": .int(65535), "mi": .int(8388607),
                            "miu": .int(16777215), "i": .int(2147483647), "iu": .int(4294967295), "bi": .int(.max), "biu": dec("18446744073709551615")])
        #expect(rows[2] == ["id": .int(3), "ti": .int(-1), "tiu": .int(1), "si": .int(-1), "siu": .int(1), "mi": .int(-1),
                            "miu": .int(1), "i": .int(-1), "iu": .int(1), "bi": .int(-1), "biu": .int(1)])
        #expect(rows[3]["id"] == .int(4))
        #expect(rows[3]["biu"] == .null)
        #expect(rows[3].count == 11)
    }

    @Test func decimalsFloatsBitsAndYears() throws {
        let rows = captured.rows("t_num").compactMap(\.row.after)
        try #require(rows.count == 3)
        #expect(rows[0]["d1"] == dec("12345678.90"))
        #expect(rows[0]["d2"] == dec("-12345678901234567890.0123456789"))
        #expect(rows[0]["d3"] == dec("-99999"))
        #expect(rows[0]["d4"] == dec("1.5"))
        #expect(rows[0]["f"] == .double(3.14159))
        #expect(rows[0]["dbl"] == .double(0.1))
        #expect(rows[0]["b1"] == .int(1))
        #expect(rows[0]["b10"] == .int(0b1010101010))
        #expect(rows[0]["b64"] == dec("18446744073709551615"))
        #expect(rows[0]["y"] == .int(2024))
        #expect(rows[1]["d1"] == dec("-0.01"))
        #expect(rows[1]["d2"] == dec("0.0000000001"))
        #expect(rows[1]["d3"] == dec("0"))
        #expect(rows[1]["d4"] == dec("-0.000000000000000000000000000001"))
        #expect(rows[1]["f"] == .double(-1.5e-10))
        #expect(rows[1]["dbl"] == .double(-1.7976931348623157e308))
        #expect(rows[1]["b1"] == .int(0))
        #expect(rows[1]["b10"] == .int(1))
        #expect(rows[1]["y"] == .int(1901))
        #expect(rows[2]["d2"] == dec("99999999999999999999.9999999999"))
        #expect(rows[2]["d4"] == dec("12345678901234567890123456789012345.123456789012345678901234567890"))
        #expect(rows[2]["dbl"] == .double(2.2250738585072014e-308))
        #expect(rows[2]["b64"] == .null)
        #expect(rows[2]["y"] == .int(2155))
    }

    @Test func datesTimesAndTimestamps() throws {
        let rows = captured.rows("t_time").compactMap(\.row.after)
        try #require(rows.count == 3)
        func ts(_ s: String) -> Value { .timestamp(Timestamps.parseISO8601(s)!) }
        #expect(rows[0]["d"] == .string("2024-02-29"))
        #expect(rows[0]["t0"] == .string("13:45:56"))
        #expect(rows[0]["t3"] == .string("-01:02:03.500"))
        #expect(rows[0]["t6"] == .string("838:59:59.000000"))
        #expect(rows[0]["dt0"] == ts("2024-02-29T13:45:56Z"))
        #expect(rows[0]["dt3"] == ts("1000-01-01T00:00:00.001Z"))
        #expect(rows[0]["dt6"] == ts("9999-12-31T23:59:59.999999Z"))
        #expect(rows[0]["ts0"] == ts("2024-02-29T13:45:56Z"))
        #expect(rows[0]["ts6"] == ts("2038-01-19T03:14:07.999999Z"))
        #expect(rows[1]["d"] == .string("1000-01-01"))
        #expect(rows[1]["t0"] == .string("-838:59:59"))
        #expect(rows[1]["t3"] == .string("-00:00:00.001"))
        #expect(rows[1]["t6"] == .string("-00:00:01.000001"))
        #expect(rows[1]["dt0"] == .timestamp(0))
        #expect(rows[1]["dt3"] == .timestamp(-1_000))
        #expect(rows[1]["dt6"] == ts("2000-01-01T00:00:00.000001Z"))
        #expect(rows[1]["ts0"] == .timestamp(1_000_000))
        #expect(rows[1]["ts6"] == .timestamp(1_000_001))
        #expect(rows[2]["d"] == .string("9999-12-31"))
        #expect(rows[2]["t0"] == .string("00:00:00"))
        #expect(rows[2]["t3"] == .string("00:00:00.000"))
        #expect(rows[2]["t6"] == .string("-12:34:56.789012"))
        #expect(rows[2]["dt0"] == .null)
        #expect(rows[2]["ts6"] == .null)
    }

    @Test func everyFractionalPrecisionSmallAndLargeDecimalsAndLongStrings() throws {
        let rows = captured.rows("t_frac").compactMap(\.row.after)
        try #require(rows.count == 2)
        func ts(_ s: String) -> Value { .timestamp(Timestamps.parseISO8601(s)!) }
        #expect(rows[0]["t1"] == .string("-00:00:00.1"))
        #expect(rows[0]["t2"] == .string("-01:00:00.01"))
        #expect(rows[0]["t4"] == .string("-100:00:00.0001"))
        #expect(rows[0]["t5"] == .string("-00:00:01.00001"))
        #expect(rows[0]["dt1"] == ts("2024-02-29T13:45:56.1Z"))
        #expect(rows[0]["dt2"] == ts("2024-02-29T13:45:56.99Z"))
        #expect(rows[0]["dt4"] == ts("2024-02-29T13:45:56.0001Z"))
        #expect(rows[0]["dt5"] == ts("2024-02-29T13:45:56.00001Z"))
        #expect(rows[0]["ts2"] == ts("2024-02-29T13:45:56.12Z"))
        #expect(rows[0]["ts4"] == ts("2024-02-29T13:45:56.1234Z"))
        #expect(rows[0]["dsmall"] == dec("-99.99"))
        #expect(rows[0]["dmid"] == dec("-123456789.123456789"))
        #expect(rows[0]["cl"] == .string(String(repeating: "ä", count: 99) + "z"))
        #expect(rows[0]["vbig"] == .string(String(repeating: "€", count: 300)))
        #expect(rows[1]["t1"] == .string("12:34:56.7"))
        #expect(rows[1]["t2"] == .string("838:59:58.99"))
        #expect(rows[1]["t4"] == .string("00:00:00.9999"))
        #expect(rows[1]["t5"] == .string("-838:59:58.99999"))
        #expect(rows[1]["dt1"] == ts("1000-01-01T00:00:00.9Z"))
        #expect(rows[1]["dt5"] == ts("9999-12-31T23:59:59.99999Z"))
        #expect(rows[1]["ts2"] == ts("1970-01-01T00:00:01.01Z"))
        #expect(rows[1]["ts4"] == ts("2038-01-19T03:14:07.9999Z"))
        #expect(rows[1]["dsmall"] == dec("0.01"))
        #expect(rows[1]["dmid"] == dec("999999999.999999999"))
        #expect(rows[1]["cl"] == .string("a"))
        #expect(rows[1]["vbig"] == .string(""))
    }

    @Test func stringsBinariesEnumsSetsJSONAndServerTypes() throws {
        let changes = captured.rows("t_str")
        let rows = changes.compactMap { $0.row.before == nil ? $0.row.after : nil }
        try #require(rows.count == 3)
        #expect(rows[0]["c"] == .string("café"))
        #expect(rows[0]["cu"] == .string("żółw"))
        #expect(rows[0]["vc"] == .string("€ " + String(repeating: "x", count: 260)))
        #expect(rows[0]["vl"] == .string("Ünïcödé"))
        #expect(rows[0]["tx"] == .string("emoji 🎉 text"))
        #expect(rows[0]["bl"] == .bytes([0x00, 0xFF, 0x10]))
        #expect(rows[0]["bn"] == .bytes([1, 2, 3, 4]))
        #expect(rows[0]["vb"] == .bytes([]))
        #expect(rows[0]["e"] == .string("green"))
        #expect(rows[0]["s"] == .string("a,c,d"))
        #expect(rows[0]["j"] == .object(["a": .array([.int(1), .double(2.5), .string("x"), .null, .bool(true)]), "b": .object(["c": .string("d")])]))
        #expect(rows[0]["u"] == .string("123e4567-e89b-12d3-a456-426614174000"))
        #expect(rows[0]["i6"] == .string("2001:db8::1"))
        #expect(rows[0]["i4"] == .string("192.168.0.1"))
        #expect(rows[1]["c"] == .string(""))
        #expect(rows[1]["bn"] == .bytes([0, 0, 0, 0]))
        #expect(rows[1]["vb"] == .bytes([UInt8](repeating: 0xFF, count: 10)))
        #expect(rows[1]["e"] == .string("blue"))
        #expect(rows[1]["s"] == .string(""))
        #expect(rows[1]["j"] == .array([]))
        #expect(rows[1]["u"] == .string("ffffffff-ffff-ffff-ffff-ffffffffffff"))
        #expect(rows[1]["i6"] == .string("::"))
        #expect(rows[1]["i4"] == .string("0.0.0.0"))
        #expect(rows[2].count == 15)
        #expect(rows[2].filter { $0.key != "id" }.allSatisfy { $0.value == .null })
    }

    @Test func updatesCarryBothImagesAndDeletesTheBeforeImage() throws {
        let changes = captured.rows("t_str")
        let update = try #require(changes.first { $0.row.before != nil && $0.row.after != nil })
        #expect(update.row.before?["vc"] == .string("€ " + String(repeating: "x", count: 260)))
        #expect(update.row.after?["vc"] == .string("changed"))
        #expect(update.row.after?["e"] == .string("red"))
        #expect(update.row.after?["u"] == .string("123e4567-e89b-12d3-a456-426614174000"))
        let delete = try #require(changes.first { $0.row.after == nil })
        #expect(delete.row.before?["id"] == .int(2))
        #expect(delete.row.before?["vb"] == .bytes([UInt8](repeating: 0xFF, count: 10)))
    }

    @Test func aMinimalImageHoldsOnlyThePresentColumns() throws {
        let update = try #require(captured.rows("t_int").first { $0.row.before != nil })
        #expect(update.row.before == ["id": .int(3)])
        #expect(update.row.after == ["ti": .int(5)])
    }

    @Test func skipReplicationWritesAreFlagged() throws {
        let flagged = captured.rows("t_int").filter(\.header.skipReplication)
        #expect(flagged.count == 1)
        #expect(flagged.first?.row.after?["id"] == .int(5))
        #expect(captured.changes.filter(\.header.skipReplication).count == 1)
    }

    @Test func ddlIsAQueryAndNewColumnsDecodeAfterIt() throws {
        let ddl = captured.events.compactMap { e -> String? in
            if case let .query(_, sql) = e.body, sql.uppercased().hasPrefix("ALTER") { return sql }
            return nil
        }
        #expect(ddl.count == 1)
        let last = try #require(captured.rows("t_int").last?.row.after)
        #expect(last["id"] == .int(6))
        #expect(last["extra"] == .string("new"))
    }

    @Test func truncatedEventsThrowInsteadOfTrapping() throws {
        for hex in CapturedBinlog.events {
            let bytes = CapturedEvents.bytes(hex)
            for cut in stride(from: 0, to: bytes.count, by: 7) {
                _ = try? BinlogEvent.decode(Array(bytes.prefix(cut)), checksum: true)
            }
        }
        #expect(throws: BinlogDecodingError.self) { try BinlogEvent.decode([1, 2, 3], checksum: true) }
    }
}
