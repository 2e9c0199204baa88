import Testing
import DeltaCore
@testable import PostgresConnector

@Suite struct ValueMappingTests {
    typealias T = PostgresTypeOID

    private func decode(_ text: String, _ oid: UInt32) -> PgDecodedValue { PostgresValueMapping.decode(text, typeOID: oid) }
    private func literal(_ v: Value, _ oid: UInt32, _ typmod: Int32 = -1) throws -> String? {
        try PostgresValueMapping.literal(for: v, typeOID: oid, typeModifier: typmod)
    }
    private func reason(_ v: Value, _ oid: UInt32, _ typmod: Int32 = -1) -> String? {
        PostgresValueMapping.cannotHold(v, typeOID: oid, typeModifier: typmod)
    }

    @Test func decodesNumbers() {
        #expect(decode("-32768", T.int2) == PgDecodedValue(.int(-32768)))
        #expect(decode("9223372036854775807", T.int8) == PgDecodedValue(.int(Int64.max)))
        #expect(decode("4294967295", T.oid) == PgDecodedValue(.int(4_294_967_295)))
        #expect(decode("12abc", T.int4) == PgDecodedValue(.string("12abc"), isFallback: true))
        #expect(decode("-123456789012345678901234567890.123456", T.numeric) == PgDecodedValue(dec("-123456789012345678901234567890.123456")))
        #expect(decode("NaN", T.numeric) == PgDecodedValue(dec("NaN")))
        #expect(decode("Infinity", T.numeric) == PgDecodedValue(dec("Infinity")))
        #expect(decode("-Infinity", T.numeric) == PgDecodedValue(dec("-Infinity")))
        #expect(decode("1234.500", T.numeric) == PgDecodedValue(dec("1234.5")))
        #expect(decode("3.14", T.float4) == PgDecodedValue(.double(3.14)))
        #expect(decode("1e+100", T.float8) == PgDecodedValue(.double(1e100)))
        #expect(decode("-1.5e-07", T.float8) == PgDecodedValue(.double(-1.5e-7)))
        #expect(decode("NaN", T.float8) == PgDecodedValue(.double(.nan)))
        #expect(decode("Infinity", T.float4) == PgDecodedValue(.double(.infinity)))
        #expect(decode("-Infinity", T.float8) == PgDecodedValue(.double(-.infinity)))
        #expect(decode("inf", T.float8).isFallback)
        #expect(decode(" 1", T.float8).isFallback)
        if case let .double(z) = decode("-0", T.float8).value { #expect(z.sign == .minus) } else { Issue.record("-0") }
    }

    @Test func decodesOtherScalars() {
        #expect(decode("t", T.bool) == PgDecodedValue(.bool(true)))
        #expect(decode("f", T.bool) == PgDecodedValue(.bool(false)))
        #expect(decode("true", T.bool) == PgDecodedValue(.string("true"), isFallback: true))
        #expect(decode("ab   ", T.bpchar) == PgDecodedValue(.string("ab   ")))
        #expect(decode("\\xDEADbeef", T.bytea) == PgDecodedValue(.bytes([0xDE, 0xAD, 0xBE, 0xEF])))
        #expect(decode("\\x", T.bytea) == PgDecodedValue(.bytes([])))
        #expect(decode("\\x0", T.bytea).isFallback)
        #expect(decode("\\xzz", T.bytea).isFallback)
        #expect(decode(#"\000\377a\\"#, T.bytea) == PgDecodedValue(.bytes([0, 255, 97, 92])))
        #expect(decode(#"\400"#, T.bytea).isFallback)
        #expect(decode("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", T.uuid) == PgDecodedValue(.string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")))
        #expect(decode("0044-03-15 BC", T.date) == PgDecodedValue(.string("0044-03-15 BC")))
        #expect(decode("24:00:00", T.time) == PgDecodedValue(.string("24:00:00")))
        #expect(decode("P1Y", T.interval) == PgDecodedValue(.string("P1Y")))
        #expect(decode("2024-02-29 23:59:59.123", T.timestamp) == PgDecodedValue(.timestamp(Timestamps.parseISO8601("2024-02-29T23:59:59.123Z")!)))
        #expect(decode("2024-02-29 23:59:59.123-08", T.timestamptz) == PgDecodedValue(.timestamp(Timestamps.parseISO8601("2024-03-01T07:59:59.123Z")!)))
        #expect(decode("Feb 29 2024", T.timestamptz) == PgDecodedValue(.string("Feb 29 2024"), isFallback: true))
        #expect(decode(#"{"a": [1, 2.5]}"#, T.jsonb) == PgDecodedValue(.object(["a": .array([.int(1), .double(2.5)])])))
        #expect(decode(#""\ud800""#, T.json) == PgDecodedValue(.string(#""\ud800""#), isFallback: true))
        #expect(decode("192.168.0.1", 869) == PgDecodedValue(.string("192.168.0.1"), isFallback: true))
    }

    @Test func decodesArrays() {
        #expect(decode("{1,NULL,-3}", 1005) == PgDecodedValue(.array([.int(1), .null, .int(-3)])))
        #expect(decode("{{t,f},{NULL,t}}", 1000) == PgDecodedValue(.array([.array([.bool(true), .bool(false)]), .array([.null, .bool(true)])])))
        #expect(decode(#"{"{\"a\": 1}",null}"#, 199) == PgDecodedValue(.array([.object(["a": .int(1)]), .null])))
        #expect(decode("{1,x}", 1007) == PgDecodedValue(.string("{1,x}"), isFallback: true))
        #expect(decode("{1,2", 1007) == PgDecodedValue(.string("{1,2"), isFallback: true))
        #expect(decode("[0:1]={5,6}", 1016) == PgDecodedValue(.array([.int(5), .int(6)])))
        #expect(PostgresValueMapping.decodeArray("{a,NULL}", elementOID: 99999) == PgDecodedValue(.array([.string("a"), .null]), isFallback: true))
        #expect(PostgresValueMapping.decodeArray("{NULL}", elementOID: 99999) == PgDecodedValue(.array([.null])))
    }

    @Test func encodesLiterals() throws {
        #expect(try literal(.null, T.int4) == nil)
        #expect(try literal(.int(-5), T.int2) == "-5")
        #expect(try literal(.double(3), T.int4) == "3")
        #expect(try literal(dec("1200"), T.int8) == "1200")
        #expect(try literal(.int(4_294_967_295), T.oid) == "4294967295")
        #expect(try literal(dec("-123456789012345678901234567890.123456"), T.numeric) == "-123456789012345678901234567890.123456")
        #expect(try literal(.int(7), T.numeric) == "7")
        #expect(try literal(.double(0.1), T.numeric) == "0.1")
        #expect(try literal(.double(.nan), T.numeric) == "NaN")
        #expect(try literal(.double(-.infinity), T.numeric) == "-Infinity")
        #expect(try literal(dec("999999999.999"), T.numeric, (12 << 16 | 3) + 4) == "999999999.999")
        #expect(try literal(dec("NaN"), T.numeric, (12 << 16 | 3) + 4) == "NaN")
        #expect(try literal(.double(1e100), T.float8) == "1e+100")
        #expect(try literal(.double(-0.0), T.float8) == "-0.0")
        #expect(try literal(.double(.infinity), T.float4) == "Infinity")
        #expect(try literal(.int(3), T.float4) == "3")
        #expect(try literal(dec("2.5"), T.float8) == "2.5")
        #expect(try literal(dec("NaN"), T.float8) == "NaN")
        #expect(try literal(.bool(true), T.bool) == "t")
        #expect(try literal(.bool(false), T.bool) == "f")
        #expect(try literal(.string("héllo 😀"), T.text) == "héllo 😀")
        #expect(try literal(.string("abcd  "), T.varchar, 4 + 4) == "abcd  ")
        #expect(try literal(.string("ab"), T.bpchar, 5 + 4) == "ab")
        #expect(try literal(.bytes([0xDE, 0xAD, 0, 0xFF]), T.bytea) == "\\xdead00ff")
        #expect(try literal(.bytes([]), T.bytea) == "\\x")
        #expect(try literal(.string("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"), T.uuid) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        #expect(try literal(.string("a0eebc999c0b4ef8bb6d6bb9bd380a11"), T.uuid) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        #expect(try literal(.bytes(Array(0..<16)), T.uuid) == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        #expect(try literal(.string("2024-02-29"), T.date) == "2024-02-29")
        #expect(try literal(.timestamp(Timestamps.parseISO8601("2024-02-29T00:00:00Z")!), T.date) == "2024-02-29")
        #expect(try literal(.string("1 day"), T.interval) == "1 day")
        #expect(try literal(.timestamp(Timestamps.parseISO8601("2024-02-29T23:59:59.123456Z")!), T.timestamptz) == "2024-02-29 23:59:59.123456+00")
        #expect(try literal(.timestamp(-62_135_596_800_000_001), T.timestamp) == "0001-12-31 23:59:59.999999+00 BC")
        #expect(try literal(.timestamp(Int64.max), T.timestamptz) == "infinity")
        #expect(try literal(.string("2024-06-01T17:30:00+05:30"), T.timestamptz) == "2024-06-01 12:00:00+00")
        #expect(try literal(.object(["b": .int(1), "a": .array([.null, .string("x")])]), T.jsonb) == #"{"a":[null,"x"],"b":1}"#)
        #expect(try literal(.string("s"), T.json) == #""s""#)
        #expect(try literal(.int(5), T.json) == "5")
        #expect(try literal(.string("happy"), 16385) == "happy")
        #expect(try literal(.int(42), 16392) == "42")
        #expect(try literal(.bool(true), 16392) == "t")
    }

    @Test func encodesArrays() throws {
        #expect(try literal(.array([]), 1007) == "{}")
        #expect(try literal(.array([.int(1), .null, .int(-3)]), 1007) == "{1,NULL,-3}")
        #expect(try literal(.array([.array([.int(1), .int(2)]), .array([.int(3), .int(4)])]), 1007) == "{{1,2},{3,4}}")
        #expect(try literal(.array([.string("a b"), .string("c\"d"), .string("e\\f"), .null, .string("NULL"), .string("")]), 1009)
                == #"{"a b","c\"d","e\\f",NULL,"NULL",""}"#)
        #expect(try literal(.array([.bytes([0, 255]), .bytes([])]), 1001) == #"{"\\x00ff","\\x"}"#)
        #expect(try literal(.array([.timestamp(0)]), 1185) == #"{"1970-01-01 00:00:00+00"}"#)
        #expect(try literal(.array([.object(["k": .array([.int(1)])]), .string("str")]), 3807) == #"{"{\"k\":[1]}","\"str\""}"#)
        #expect(try literal(.array([.double(.nan), .double(1.5)]), 1022) == "{NaN,1.5}")
        #expect(try PostgresValueMapping.arrayLiteral(for: .array([.string("sad"), .string("ok")]), elementOID: 16385) == "{sad,ok}")
        #expect(reason(.array([.array([.int(1)]), .int(2)]), 1007) == "an array mixing sub-arrays and elements cannot be stored in a column of type int4[]")
        #expect(reason(.array([.array([.int(1)]), .array([.int(2), .int(3)])]), 1007) == "a ragged multi-dimensional array cannot be stored in a column of type int4[]")
        #expect(reason(.array([.array([]), .array([])]), 1007) == "an array with empty sub-arrays cannot be stored in a column of type int4[]")
        #expect(reason(.array([.string("x")]), 1007) == "a string cannot be stored in a column of type int4")
        #expect(reason(.int(1), 1007) == "an int cannot be stored in a column of type int4[]")
        #expect(reason(.array([.string("abcdef")]), 1015, 4 + 3) == "a string of 6 characters is too long for a varchar(3) column")
    }

    @Test func saysWhyAValueCannotBeHeld() {
        #expect(reason(.string("12"), T.int4) == "a string cannot be stored in a column of type int4")
        #expect(reason(.int(32768), T.int2) == "32768 is out of range for type int2")
        #expect(reason(.int(-1), T.oid) == "-1 is out of range for type oid")
        #expect(reason(.double(1.5), T.int8) == "the double 1.5 is not an integer in range for type int8")
        #expect(reason(.double(1e19), T.int8) != nil)
        #expect(reason(dec("1.5"), T.int4) != nil)
        #expect(reason(dec("99999999999999999999"), T.int8) != nil)
        #expect(reason(.bool(true), T.int4) == "a bool cannot be stored in a column of type int4")
        #expect(reason(.string("1"), T.numeric) == "a string cannot be stored in a column of type numeric")
        #expect(reason(dec("1000000000"), T.numeric, (12 << 16 | 3) + 4) == "1000000000 has too many integer digits for a numeric(12,3) column")
        #expect(reason(.double(1e10), T.numeric, (12 << 16 | 3) + 4) != nil)
        #expect(reason(dec("Infinity"), T.numeric, (12 << 16 | 3) + 4) == "Infinity cannot be stored in a numeric(12,3) column")
        #expect(reason(dec("0.0001234"), T.numeric, (3 << 16 | 3) + 4) == nil)
        #expect(reason(.double(1e39), T.float4) == "1e+39 is out of range for a float4 column")
        #expect(reason(.double(1e-46), T.float4) != nil)
        #expect(reason(dec("1e400"), T.float8) == "the decimal 1E+400 is out of range for type float8")
        #expect(reason(dec("1e-400"), T.float8) != nil)
        #expect(reason(.int(1), T.bool) == "an int cannot be stored in a column of type bool")
        #expect(reason(.int(1), T.text) == "an int cannot be stored in a column of type text")
        #expect(reason(.string("a\u{0}b"), T.text) == "a string with a NUL character cannot be stored in a column of type text")
        #expect(reason(.string("abcdé"), T.varchar, 4 + 4) == "a string of 5 characters is too long for a varchar(4) column")
        #expect(reason(.string("abcdé"), T.varchar, 5 + 4) == nil)
        #expect(reason(.string("abc x"), T.bpchar, 3 + 4) == "a string of 5 characters is too long for a char(3) column")
        #expect(reason(.string(String(repeating: "n", count: 64)), T.name) != nil)
        #expect(reason(.string("ab"), T.char) != nil)
        #expect(reason(.string("\\xff"), T.bytea) == "a string cannot be stored in a column of type bytea")
        #expect(reason(.string("not-a-uuid"), T.uuid) == "the string 'not-a-uuid' is not a UUID")
        #expect(reason(.bytes([1, 2]), T.uuid) != nil)
        #expect(reason(.timestamp(1), T.date) == "a timestamp with a time of day cannot be stored in a date column")
        #expect(reason(.int(1), T.date) != nil)
        #expect(reason(.string("yesterday-ish"), T.timestamptz) == "the string 'yesterday-ish' is not a timestamp")
        #expect(reason(.timestamp(PostgresTimestamp.minimumMicros - 1), T.timestamptz) != nil)
        #expect(reason(.timestamp(PostgresTimestamp.minimumMicros), T.timestamptz) == nil)
        #expect(reason(.double(.nan), T.jsonb) == "JSON cannot hold the number nan")
        #expect(reason(.string("\u{0}"), T.jsonb) != nil)
        #expect(reason(.string("\u{0}"), T.json) == nil)
        #expect(reason(.object([:]), 16385) == "an object cannot be stored in a column of unmapped type 16385 (only strings and scalars)")
        #expect(reason(.string("line\nbreak\u{1}"), T.uuid) == "the string 'line\\u{a}break\\u{1}' is not a UUID")
    }

    @Test func valuesRoundTripThroughTheirLiteral() throws {
        let cases: [(UInt32, [Value])] = [
            (T.int2, [.int(-32768), .int(0), .int(32767)]),
            (T.int4, [.int(Int64(Int32.min)), .int(Int64(Int32.max))]),
            (T.int8, [.int(Int64.min), .int(Int64.max)]),
            (T.numeric, [dec("0"), dec("-0.000000000000000000000000000001"), dec("123456789012345678901234567890.123456"), dec("NaN"), dec("Infinity"), dec("-Infinity"), dec("1E+60")]),
            (T.float8, [.double(0.1), .double(-1.5e-300), .double(.greatestFiniteMagnitude), .double(.leastNonzeroMagnitude), .double(.nan), .double(.infinity), .double(-.infinity)]),
            (T.float4, [.double(1.5), .double(3.4e38)]),
            (T.bool, [.bool(true), .bool(false)]),
            (T.text, [.string(""), .string("tab\t\"q\" \\ {x} 😀")]),
            (T.bytea, [.bytes([]), .bytes(Array(0...255))]),
            (T.uuid, [.string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]),
            (T.date, [.string("2024-02-29")]),
            (T.timestamptz, [.timestamp(0), .timestamp(-1), .timestamp(PostgresTimestamp.minimumMicros), .timestamp(Int64.max - 1), .timestamp(Int64.max), .timestamp(Int64.min)]),
            (T.timestamp, [.timestamp(1_709_251_199_123_456)]),
            (T.jsonb, [.object(["a": .array([.int(1), .double(2.5), dec("12345678901234567890"), .null, .bool(false)]), "b": .object([:])]), .string("s"), .array([])]),
            (1007, [.array([]), .array([.int(1), .null]), .array([.array([.int(1), .int(2)]), .array([.int(3), .int(4)])])]),
            (1009, [.array([.string(""), .string("NULL"), .null, .string(" a "), .string("{,}\"\\")])]),
            (1231, [.array([dec("1.5"), dec("NaN")])]),
            (1185, [.array([.timestamp(0), .null])]),
            (3807, [.array([.object(["k": .string("v")]), .int(1), .string("s")])]),
            (1001, [.array([.bytes([0, 255]), .bytes([])])]),
        ]
        for (oid, values) in cases {
            for value in values {
                let text = try #require(try literal(value, oid))
                #expect(decode(text, oid) == PgDecodedValue(value), "\(T.name(of: oid)): \(text)")
            }
        }
    }
}

/// The snapshot and the stream decode values from the driver's bytes; for the types parsed
/// without a string (integers, numeric, timestamps, booleans, JSON), that must give exactly what
/// decoding the text does, odd spellings included.
@Suite struct ByteDecodingTests {
    typealias T = PostgresTypeOID

    private func check(_ text: String, _ oid: UInt32, sourceLocation: SourceLocation = #_sourceLocation) {
        let type = PostgresColumnType(oid: oid, kind: .mapped(oid), castName: "x")
        let fromBytes = Array(text.utf8).withUnsafeBufferPointer { type.decode(utf8: $0) }
        #expect(fromBytes == type.decode(text), "\(text) as oid \(oid)", sourceLocation: sourceLocation)
    }

    @Test func fixedSpellingsMatchTheTextDecoding() {
        let cases: [(UInt32, [String])] = [
            (T.int2, ["0", "-0", "-32768", "32767", "+5", " 5", "5 ", "", "-", "1-", "12abc", "٣"]),
            (T.int4, ["2147483647", "-2147483648", "007", "1e3"]),
            (T.int8, ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "123456789012345678",
                      "1234567890123456789", "-999999999999999999", "99999999999999999999"]),
            (T.oid, ["4294967295"]),
            (T.numeric, ["1234.500", "-0.000", "NaN", "Infinity", "-Infinity", "1e5", " 1", "1.2.3", "", "-123456789012345678901234567890.123456"]),
            (T.timestamptz, ["2024-03-01 12:00:00+00", "2024-03-01 12:00:00.123456+05:30", "infinity", "-infinity",
                             "0001-01-01 00:00:00+00 BC", "2024-13-01 00:00:00+00", "garbage", ""]),
            (T.timestamp, ["2024-03-01 12:00:00", "1999-12-31 23:59:59.999999", "infinity"]),
            (T.bool, ["t", "f", "true", "", "tt"]),
            (T.jsonb, [#"["a", 3]"#, #"{"k": {"n": [1.5, null, true]}}"#, "12", #""é""#, "[1,", ""]),
            (T.json, [#"{"b": 1, "a": 2}"#, "  [ ]  "]),
            (T.text, ["plain", ""]),
            (T.float8, ["1.5", "NaN"]),
        ]
        for (oid, texts) in cases {
            for text in texts { check(text, oid) }
        }
    }

    @Test func randomIntegersMatchTheTextDecoding() {
        var rng = SplitMix(seed: 0x1D)
        for _ in 0..<5000 {
            let digits = Int(rng.next() % 21) + 1
            var text = (0..<digits).map { _ in String(rng.next() % 10) }.joined()
            switch rng.next() % 4 {
            case 0: text = "-" + text
            case 1: text = "+" + text
            default: break
            }
            check(text, T.int8)
        }
    }
}
