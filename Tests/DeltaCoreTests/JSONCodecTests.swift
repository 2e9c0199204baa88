import DeltaCore
import Testing

/// JSONCodec: the PostgreSQL-derived cases (exact numbers, errors with offsets, round trips).
@Suite struct JSONCodecTests {
    private func dec(_ s: String) -> Value { .decimal(ExactDecimal(s)!) }

    private func parse(_ text: String) throws -> Value { try JSONCodec.parse(text) }

    @Test func scalarsAndWhitespace() throws {
        #expect(try parse("null") == .null)
        #expect(try parse(" \t\r\ntrue\n") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse(#""x""#) == .string("x"))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{ }") == .object([:]))
        #expect(try parse(#"{"a" : [ 1 , { "b" : null } ] }"#) == .object(["a": .array([.int(1), .object(["b": .null])])]))
    }

    @Test func numbers() throws {
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("42") == .int(42))
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parse("9223372036854775808") == dec("9223372036854775808"))
        #expect(try parse("12345678901234567890") == dec("12345678901234567890"))
        #expect(try parse("0.1") == .double(0.1))
        #expect(try parse("2.5") == .double(2.5))
        #expect(try parse("1.0") == .double(1.0))
        #expect(try parse("-1.5e3") == .double(-1500))
        #expect(try parse("1E2") == .double(100))
        #expect(try parse("1e+2") == .double(100))
        #expect(try parse("1e-7") == .double(1e-7))
        #expect(try parse("1.7976931348623157e308") == .double(.greatestFiniteMagnitude))
        #expect(try parse("5e-324") == .double(.leastNonzeroMagnitude))
        // Numbers a double would change stay exact.
        #expect(try parse("0.1000000000000000000001") == dec("0.1000000000000000000001"))
        #expect(try parse("3.141592653589793238462643383279") == dec("3.141592653589793238462643383279"))
        #expect(try parse("1e400") == dec("1e400"))
        #expect(try parse("1e-400") == dec("1e-400"))
        #expect(try parse("123456789012345678901234567890.123456") == dec("123456789012345678901234567890.123456"))
        #expect(JSONCodec.number("-12") == .int(-12))
        #expect(JSONCodec.number("01") == nil)
        #expect(JSONCodec.number("1 ") == nil)
    }

    @Test func strings() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u00e9\u00E9é""#) == .string("ééé"))
        #expect(try parse(#""\ud83d\ude00😀""#) == .string("😀😀"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse(#"{"k":1,"k":2}"#) == .object(["k": .int(2)]))
    }

    @Test func rejectsWhatRFC8259Rejects() {
        let bad = ["", " ", "01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "tru", "nul", "True",
                   "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{a:1}", "{1:1}", "'a'", "\"a", "\"\\x\"",
                   "\"\\u12\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\u{1}b\"", "\"tab\there\"",
                   "1 2", "[1]]", "{}}", "\u{FEFF}1", "[1,\n", "\u{A0}1"]
        for text in bad {
            #expect(throws: JSONCodec.ParseError.self, "\(text.debugDescription)") { try JSONCodec.parse(text) }
        }
    }

    @Test func nestingLimit() throws {
        let limit = JSONCodec.maximumDepth
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(throws: Never.self) { try JSONCodec.parse(ok) }
        let deep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: JSONCodec.ParseError.self) { try JSONCodec.parse(deep) }
        let objects = String(repeating: "{\"a\":", count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        #expect(throws: JSONCodec.ParseError.self) { try JSONCodec.parse(objects) }
        #expect(throws: JSONCodec.ParseError.self) { try JSONCodec.parse(String(repeating: "[", count: 100_000)) }
    }

    @Test func errorOffsets() {
        #expect(throws: JSONCodec.ParseError(offset: 3, message: "expected a value")) { try JSONCodec.parse("[1,]") }
        #expect(throws: JSONCodec.ParseError(offset: 2, message: "unexpected text after the JSON value")) { try JSONCodec.parse("1 2") }
    }

    @Test func serializes() throws {
        let v: Value = .object(["b": .array([.int(1), .double(2.5), .null, .bool(true)]), "a": .string("q\"\\\n\u{1}é"),
                                "d": dec("-12.50"), "big": dec("12345678901234567890")])
        let text = try JSONCodec.serialize(v)
        #expect(text == #"{"a":"q\"\\\n\u0001é","b":[1,2.5,null,true],"big":12345678901234567890,"d":-12.5}"#)
        var back = v
        if case var .object(o) = back { o["d"] = .double(-12.5); back = .object(o) }
        #expect(try parse(text) == back)
        #expect(try JSONCodec.serialize(.bytes([0, 255])) == #""AP8=""#)
        #expect(try JSONCodec.serialize(.timestamp(1_500_000)) == #""1970-01-01T00:00:01.500000Z""#)
        #expect(try JSONCodec.serialize(.double(1e100)) == "1e+100")
        #expect(try parse(JSONCodec.serialize(.double(-0.0))) == .double(0))
        #expect(throws: JSONCodec.SerializeError.self) { try JSONCodec.serialize(.double(.nan)) }
        #expect(throws: JSONCodec.SerializeError.self) { try JSONCodec.serialize(.array([.double(.infinity)])) }
        #expect(throws: JSONCodec.SerializeError.self) { try JSONCodec.serialize(dec("NaN")) }
        #expect(try JSONCodec.serialize(.string("\u{0}")) == #""\u0000""#)
        #expect(throws: JSONCodec.SerializeError(message: "jsonb cannot hold the NUL character (\\u0000)")) {
            try JSONCodec.serialize(.object(["k": .string("a\u{0}")]), rejectingNUL: true)
        }
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SplitMix64(seed: 7)
        func value(_ depth: Int) -> Value {
            switch rng.next() % (depth > 3 ? 6 : 8) {
            case 0: return .null
            case 1: return .bool(rng.next() % 2 == 0)
            case 2: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 64))
            case 3:
                let d = Double(bitPattern: rng.next())
                return d.isFinite ? .double(d) : .double(0.5)
            case 4: return dec(String(rng.next()) + String(rng.next()) + "." + String(rng.next() % 1000 + 1))
            case 5: return .string(String((0..<(rng.next() % 6)).map { _ in Character(Unicode.Scalar(UInt8(rng.next() % 128))) }) + "ü😀")
            case 6: return .array((0..<(rng.next() % 4)).map { _ in value(depth + 1) })
            default:
                var o: [String: Value] = [:]
                for _ in 0..<(rng.next() % 4) { o["k\(rng.next() % 10)\u{7}"] = value(depth + 1) }
                return .object(o)
            }
        }
        for _ in 0..<1500 {
            let v = value(0)
            let text = try JSONCodec.serialize(v)
            let back = try parse(text)
            // A decimal that happens to fit a double or an Int64 comes back as that (same number).
            if case .decimal = v { continue }
            #expect(back == v, "\(text)")
        }
    }
}

/// JSONCodec: the RFC 8259 cases first written for SQLite JSON text columns.
@Suite struct JSONCodecRFCTests {
    @Test func parsesEveryKindOfValue() throws {
        let v = try JSONCodec.parse(#" { "a" : [1, -2.5, "x\u00e9\ud83c\udf0d\n", true, false, null], "big": 9223372036854775807, "huge": 123456789012345678901234567890, "e": 1e2, "o": {} } "#)
        let expected: Value = .object([
            "a": .array([.int(1), .double(-2.5), .string("xé🌍\n"), .bool(true), .bool(false), .null]),
            "big": .int(Int64.max),
            "huge": .decimal(ExactDecimal("123456789012345678901234567890")!),
            "e": .double(100),
            "o": .object([:]),
        ])
        #expect(v == expected)
    }

    @Test func rejectsWhatRFC8259Rejects() {
        for bad in ["", "01", "1.", ".5", "+1", "[1,]", "{\"a\":1,}", "{a:1}", "'x'", "\"\\x\"", "\"\u{01}\"", "\"\\ud800\"",
                    "tru", "nul", "[1] 2", "NaN", "Infinity", "// c\n1", "{\"a\" 1}", "[", "\"abc"] {
            #expect(throws: JSONCodec.ParseError.self, "\(bad.debugDescription) must be rejected") { try JSONCodec.parse(bad) }
        }
    }

    @Test func serialisationRoundTrips() throws {
        let values: [Value] = [
            .null, .bool(true), .int(Int64.min), .double(0.1 + 0.2), .double(1e308), .double(-0.0), .double(.leastNonzeroMagnitude), .double(2.0),
            .string("quote \" backslash \\ control \u{07} tab \t unicode ü 🌍"),
            .array([.int(1), .array([]), .object([:])]),
            .object(["z": .int(1), "a": .object(["nested": .array([.double(1.5), .string("s")])])]),
        ]
        for v in values {
            let text = try JSONCodec.serialize(v)
            let back = try JSONCodec.parse(text)
            #expect(back == v, "\(v) → \(text) → \(back)")
        }
        #expect(try JSONCodec.serialize(.object(["b": .int(1), "a": .int(2)])) == #"{"a":2,"b":1}"#)
        #expect(throws: JSONCodec.SerializeError.self) { try JSONCodec.serialize(.array([.double(.nan)])) }
        #expect(throws: JSONCodec.SerializeError.self) { try JSONCodec.serialize(.double(.infinity)) }
    }

    @Test func deepNestingIsRefusedNotCrashing() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONCodec.ParseError.self) { try JSONCodec.parse(deep) }
    }
}
