import DeltaCore
import SQLiteSupport
import Testing
@testable import SQLiteConnector

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
