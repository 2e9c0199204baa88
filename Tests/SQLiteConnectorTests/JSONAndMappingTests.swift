import DeltaCore
import SQLiteSupport
import Testing
@testable import SQLiteConnector

@Suite struct JSONTests {
    @Test func parsesEveryKindOfValue() throws {
        let v = try SQLiteJSON.parse(#" { "a" : [1, -2.5, "x\u00e9\ud83c\udf0d\n", true, false, null], "big": 9223372036854775807, "huge": 123456789012345678901234567890, "e": 1e2, "o": {} } "#)
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
            #expect(throws: SQLiteJSON.ParseError.self, "\(bad.debugDescription) must be rejected") { try SQLiteJSON.parse(bad) }
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
            let text = try SQLiteJSON.serialize(v)
            let back = try SQLiteJSON.parse(text)
            #expect(identical(back, v), "\(v) → \(text) → \(back)")
        }
        #expect(try SQLiteJSON.serialize(.object(["b": .int(1), "a": .int(2)])) == #"{"a":2,"b":1}"#)
        #expect(throws: SQLiteJSON.SerializeError.self) { try SQLiteJSON.serialize(.array([.double(.nan)])) }
        #expect(throws: SQLiteJSON.SerializeError.self) { try SQLiteJSON.serialize(.double(.infinity)) }
    }

    @Test func deepNestingIsRefusedNotCrashing() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: SQLiteJSON.ParseError.self) { try SQLiteJSON.parse(deep) }
    }
}

@Suite struct ValueMappingTests {
    @Test func writingRules() throws {
        #expect(try SQLiteValueMapping.binding(.bool(true), json: false) == .int(1))
        #expect(try SQLiteValueMapping.binding(.decimal(ExactDecimal("10.50")!), json: false) == .text("10.5"))
        #expect(try SQLiteValueMapping.binding(.timestamp(1_700_000_000_123_456), json: false) == .text("2023-11-14T22:13:20.123456Z"))
        #expect(try SQLiteValueMapping.binding(.object(["a": .int(1)]), json: false) == .text(#"{"a":1}"#))
        #expect(try SQLiteValueMapping.binding(.string("x"), json: true) == .text(#""x""#))
        #expect(try SQLiteValueMapping.binding(.bool(false), json: true) == .text("false"))
        #expect(throws: UnstorableValue.self) { try SQLiteValueMapping.binding(.double(.nan), json: false) }
        #expect(throws: UnstorableValue.self) { try SQLiteValueMapping.binding(.string("a\u{0}b"), json: false) }
        #expect(throws: UnstorableValue.self) { try SQLiteValueMapping.binding(.array([.double(.infinity)]), json: false) }
    }

    @Test func jsonColumnsGiveBackWhatWasWritten() throws {
        let values: [Value] = [.string("123"), .string("plain"), .bool(true), .int(7), .double(0.1), .null,
                               .object(["k": .array([.null, .bool(false)])]), .array([]), .bytes([1, 2])]
        for v in values {
            let stored = try SQLiteValueMapping.binding(v, json: true)
            #expect(SQLiteValueMapping.value(stored, json: true) == v, "\(v) stored as \(stored)")
        }
        // Text that is not JSON stays a string instead of being lost.
        #expect(SQLiteValueMapping.value(.text("not json"), json: true) == .string("not json"))
    }

    @Test func cursorsAndHexRoundTrip() {
        let keys: [SQLiteStatement.Binding] = [.int(Int64.min), .double(0.1 + 0.2), .text("é\"x"), .blob([0, 255, 16]), .null, .double(-.infinity)]
        #expect(SQLiteValueMapping.decodeCursor(SQLiteValueMapping.encodeCursor(keys)) == keys)
        #expect(SQLiteValueMapping.hexDecode("00FFab") == [0, 255, 171])
        #expect(SQLiteValueMapping.hexDecode("0") == nil)
    }
}
