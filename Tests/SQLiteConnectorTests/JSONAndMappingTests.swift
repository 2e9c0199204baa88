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

    @Test("change-log images: the byte scanner reads what the JSON parser reads, and leaves the unusual to it")
    func imageScannerAgreesWithTheParser() throws {
        let usual = [
            #"{"id":["integer",42],"name":["text","Ada"],"price":["real","1.50000000000000000000e+00"],"pic":["blob","0AFF"],"note":["null",null]}"#,
            #"{"id":["integer",-9223372036854775808],"max":["integer",9223372036854775807],"zero":["integer",0]}"#,
            #"{"ünï":["text","日本語 ✓"],"empty":["text",""],"inf":["real","-Inf"]}"#,
            #"{}"#,
            #"{"id":["integer",1],"q":["text","say \"hi\"\n\t\\ \/ \b\f\r"],"tags":["text","[\"a\",\"b\"]"]}"#,  // escapes
        ]
        for image in usual {
            let scanned = try #require(SQLiteValueMapping.scanImage(image), "the scanner should read \(image)")
            var fast = [String: Value]()
            for (name, stored) in scanned { fast[name] = SQLiteValueMapping.value(stored, json: name == "name") }
            #expect(fast == SQLiteValueMapping.parseImage(image, jsonColumns: ["name"]))
            #expect(SQLiteValueMapping.decodeImage(image, jsonColumns: ["name"]) == fast)
        }
        let unusual = [
            #"{"id":["integer",1],"q":["text","caf\u00e9"]}"#,             // a \u escape
            #"{"id":["integer",1],"q":["text","bad \x escape"]}"#,         // not an escape
            #"{"id": ["integer", 1]}"#,                                    // whitespace
            #"{"id":["integer",1.0]}"#,                                    // not a plain integer
            #"{"id":["integer",92233720368547758070]}"#,                   // beyond 64 bits
            #"{"id":["real",2.5]}"#,                                       // a real as a number
            #"{"id":["integer",01]}"#,                                     // a leading zero
        ]
        for image in unusual {
            #expect(SQLiteValueMapping.scanImage(image) == nil, "the scanner should leave \(image) to the parser")
            #expect(SQLiteValueMapping.decodeImage(image, jsonColumns: []) == SQLiteValueMapping.parseImage(image, jsonColumns: []))
        }
        #expect(SQLiteValueMapping.decodeImage(#"{"id":["integer",1],"q":["text","say \"hi\""]}"#, jsonColumns: [])?["q"] == .string(#"say "hi""#))
        #expect(SQLiteValueMapping.scanImage(#"{"q":["text","a\"b\\c\nd"]}"#)?.first?.1 == .text("a\"b\\c\nd"))
        #expect(SQLiteValueMapping.decodeImage(#"{"q":["text","caf\u00e9"]}"#, jsonColumns: [])?["q"] == .string("café"))
        #expect(SQLiteValueMapping.decodeImage(#"{"id":["real",2.5]}"#, jsonColumns: [])?["id"] == .double(2.5))
        #expect(SQLiteValueMapping.decodeImage(#"{"id":["integer",1]"#, jsonColumns: []) == nil)
    }

    @Test func boundTextKeepsItsBytesAndAnEmptyTextIsNotNull() throws {
        let db = try SQLiteDatabase(path: ":memory:")
        let s = try db.prepare("SELECT typeof(?1), length(CAST(?1 AS BLOB)), ?1, typeof(?2), ?2")
        for text in ["", "x", "café 😀", String(repeating: "long text ", count: 40)] {
            try s.bind(1, text)
            try s.bind(2, .text(text))
            #expect(try s.step())
            #expect(s.text(0) == "text" && s.int64(1) == Int64(text.utf8.count) && s.text(2) == text)
            #expect(s.text(3) == "text" && s.text(4) == text)
            s.resetKeepingBindings()
        }
        // Kept bindings are still bound after a reset that keeps them; a plain reset clears them.
        #expect(try s.step())
        #expect(s.text(2).hasPrefix("long text"))
        s.reset()
        #expect(try s.step())
        #expect(s.text(0) == "null")
    }

    @Test func cursorsAndHexRoundTrip() {
        let keys: [SQLiteStatement.Binding] = [.int(Int64.min), .double(0.1 + 0.2), .text("é\"x"), .blob([0, 255, 16]), .null, .double(-.infinity)]
        #expect(SQLiteValueMapping.decodeCursor(SQLiteValueMapping.encodeCursor(keys)) == keys)
        #expect(SQLiteValueMapping.hexDecode("00FFab") == [0, 255, 171])
        #expect(SQLiteValueMapping.hexDecode("0") == nil)
    }
}
