import DeltaCore
import Testing
@testable import MariaDBConnector

/// Text-protocol decoding, SQL literals, positions and text forms, without a server.
@Suite struct MariaDBValueMappingTests {
    func column(_ dataType: String, _ columnType: String? = nil, semantic: MariaDBSemanticType? = nil) -> MariaDBColumn {
        MariaDBColumn(name: "c", dataType: dataType, columnType: columnType ?? dataType, nullable: true, generated: false, semantic: semantic)
    }

    func decode(_ text: String, _ c: MariaDBColumn) -> Value { MariaDBValueMapping.decode(Array(text.utf8), c) }

    @Test func textDecodesLikeTheBinlog() {
        #expect(decode("-128", column("tinyint")) == .int(-128))
        #expect(decode("18446744073709551615", column("bigint", "bigint(20) unsigned")) == .decimal(ExactDecimal("18446744073709551615")!))
        #expect(decode("1.500", column("decimal")) == .decimal(ExactDecimal("1.5")!))
        #expect(decode("3.141590118408203", column("float")) == .double(3.14159))
        #expect(decode("-1.7976931348623157e308", column("double")) == .double(-1.7976931348623157e308))
        #expect(decode("682", column("bit")) == .int(682))
        #expect(decode("2024-02-29", column("date")) == .string("2024-02-29"))
        #expect(decode("-838:59:59.000", column("time")) == .string("-838:59:59.000"))
        #expect(decode("1969-12-31 23:59:59.999", column("datetime")) == .timestamp(-1_000))
        #expect(decode("0000-00-00 00:00:00", column("datetime")) == .string("0000-00-00 00:00:00"))
        #expect(decode("2024-02-30 00:00:00", column("timestamp")) == .string("2024-02-30 00:00:00"))
        #expect(decode("{\"a\": [1, 2.5]}", column("longtext", semantic: .json)) == .object(["a": .array([.int(1), .double(2.5)])]))
        #expect(decode("not json", column("longtext", semantic: .json)) == .string("not json"))
        #expect(MariaDBValueMapping.decode([0, 255], column("varbinary")) == .bytes([0, 255]))
        #expect(MariaDBValueMapping.decode(nil, column("int")) == .null)
        #expect(decode("1", column("tinyint", "tinyint(1)", semantic: .bool)) == .bool(true))
        #expect(decode("0", column("tinyint", "tinyint(1)", semantic: .bool)) == .bool(false))
        #expect(decode("7", column("tinyint", "tinyint(1)", semantic: .bool)) == .int(7))
    }

    @Test func literalsQuoteAndConvert() throws {
        func lit(_ v: Value, _ c: MariaDBColumn? = nil) throws -> String { try MariaDBValueMapping.literal(v, c) }
        #expect(try lit(.string("it's")) == "'it''s'")
        #expect(try lit(.string("'\u{301}")) == "'''\u{301}'")
        #expect(try lit(.string("back\\slash")) == "'back\\slash'")
        #expect(try lit(.bytes([0, 0xAB])) == "X'00ab'")
        #expect(try lit(.bool(true)) == "1")
        #expect(try lit(.int(.min)) == "-9223372036854775808")
        #expect(try lit(.decimal(ExactDecimal("-0.001")!)) == "-0.001")
        #expect(try lit(.timestamp(-1_000), column("datetime")) == "'1969-12-31 23:59:59.999000'")
        #expect(try lit(.timestamp(86_400_000_000 + 3_723_000_000), column("date")) == "'1970-01-02'")
        #expect(try lit(.timestamp(3_723_000_000), column("time")) == "'01:02:03.000000'")
        #expect(try lit(.timestamp(0), column("varchar")) == "'1970-01-01T00:00:00Z'")
        #expect(try lit(.object(["b": .int(1), "a": .array([])]), column("longtext", semantic: .json)) == "'{\"a\":[],\"b\":1}'")
        #expect(throws: MariaDBValueMapping.Refusal.self) { try lit(.double(.nan)) }
        #expect(throws: MariaDBValueMapping.Refusal.self) { try lit(.double(-.infinity)) }
        #expect(throws: MariaDBValueMapping.Refusal.self) { try lit(.decimal(ExactDecimal("NaN")!)) }
        #expect(MariaDBSQL.ident("we`ird") == "`we``ird`")
    }

    @Test func dateTimesRoundTripThroughText() {
        for micros: Int64 in [0, -1, 1, 951_782_400_123_456, -30_610_224_000_000_000, 253_402_300_799_999_999] {
            #expect(MariaDBValueMapping.parseDateTime(MariaDBValueMapping.dateTimeText(micros)) == micros)
        }
        #expect(MariaDBValueMapping.parseDateTime("2024-02-29 13:45:56.5") == 1_709_214_356_500_000)
        #expect(MariaDBValueMapping.parseDateTime("2024-02-29T13:45:56") == nil)
    }

    @Test func gtidPositionsParsePrintAndCount() {
        let p = MariaDBGTIDPosition("gtid:1-2-7,0-1-42")
        #expect(p?.description == "gtid:0-1-42,1-2-7")
        #expect(p?.gtidList == "0-1-42,1-2-7")
        #expect(MariaDBGTIDPosition("")?.description == "gtid:")
        #expect(MariaDBGTIDPosition("0-1-42") == MariaDBGTIDPosition("gtid:0-1-42"))
        #expect(MariaDBGTIDPosition("0/16B3748") == nil)
        #expect(MariaDBGTIDPosition("gtid:0-1") == nil)
        let inside = MariaDBGTIDPosition("gtid:0-1-41+0-1-42:1000")
        #expect(inside?.partial == MariaDBGTIDPosition.Partial(transaction: .init(domain: 0, server: 1, sequence: 42), delivered: 1000))
        #expect(inside?.description == "gtid:0-1-41+0-1-42:1000")
        #expect(inside?.gtidList == "0-1-41")
        #expect(MariaDBGTIDPosition("gtid:0-1-41+0-1-42") == nil)
        let head = MariaDBGTIDPosition("0-1-50,1-2-7,2-3-4")!
        #expect(p?.transactionsBehind(head) == 12)
        #expect(head.transactionsBehind(p!) == 0)
    }

    @Test func textFormsOfServerTypes() {
        #expect(MariaDBText.inet6([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]) == "2001:db8::1")
        #expect(MariaDBText.inet6([UInt8](repeating: 0, count: 16)) == "::")
        #expect(MariaDBText.inet6([UInt8](repeating: 0, count: 15) + [1]) == "::1")
        #expect(MariaDBText.inet6([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 1, 2, 3, 4]) == "::ffff:1.2.3.4")
        #expect(MariaDBText.inet6([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]) == "1:0:1::1:0:1")
        #expect(MariaDBText.inet6([0xfe, 0x80] + [UInt8](repeating: 0, count: 14)) == "fe80::")
        #expect(MariaDBText.uuid([0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00]) == "123e4567-e89b-12d3-a456-426614174000")
        #expect(MariaDBText.decode([0x80, 0x63, 0x61, 0x66, 0xE9], charset: 8) == "€café")
        #expect(MariaDBText.decode(Array("plain ASCII ~".utf8), charset: 8) == "plain ASCII ~")
        #expect(MariaDBText.decode([0x63, 0x61, 0x66, 0xE9], charset: 8) == "café")
        #expect(MariaDBText.decode(Array("żółw".utf8), charset: 45) == "żółw")
    }
}
