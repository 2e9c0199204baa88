import Testing
@testable import PostgresConnector

@Suite struct ArrayLiteralTests {
    typealias E = PostgresArrayLiteral.Element

    @Test func parsesPostgreSQLOutput() throws {
        #expect(try PostgresArrayLiteral.parse("{}") == [])
        #expect(try PostgresArrayLiteral.parse("{1,2,NULL}") == [.text("1"), .text("2"), .null])
        #expect(try PostgresArrayLiteral.parse(#"{"a b","c\"d","e\\f",NULL,"NULL","","{x}",ü}"#)
                == [.text("a b"), .text("c\"d"), .text("e\\f"), .null, .text("NULL"), .text(""), .text("{x}"), .text("ü")])
        #expect(try PostgresArrayLiteral.parse("{{1,2},{3,4}}") == [.array([.text("1"), .text("2")]), .array([.text("3"), .text("4")])])
        #expect(try PostgresArrayLiteral.parse("{{{1}},{{2}}}") == [.array([.array([.text("1")])]), .array([.array([.text("2")])])])
        #expect(try PostgresArrayLiteral.parse(#"{"\\x00ff","\\x"}"#) == [.text("\\x00ff"), .text("\\x")])
        #expect(try PostgresArrayLiteral.parse(#"{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.5+00"}"#)
                == [.text("2024-01-01 00:00:00+00"), .text("1999-12-31 23:59:59.5+00")])
        #expect(try PostgresArrayLiteral.parse(#"{"{\"k\": [1]}","\"str\""}"#) == [.text(#"{"k": [1]}"#), .text(#""str""#)])
    }

    @Test func parsesInputSyntax() throws {
        #expect(try PostgresArrayLiteral.parse(" { 1 , 2 } ") == [.text("1"), .text("2")])
        #expect(try PostgresArrayLiteral.parse("{a b , c}") == [.text("a b"), .text("c")])
        #expect(try PostgresArrayLiteral.parse("{null,Null,\"null\",\\NULL}") == [.null, .null, .text("null"), .text("NULL")])
        #expect(try PostgresArrayLiteral.parse(#"{a\,b,c\ }"#) == [.text("a,b"), .text("c ")])
        #expect(try PostgresArrayLiteral.parse("[0:1]={7,8}") == [.text("7"), .text("8")])
        #expect(try PostgresArrayLiteral.parse("[1:2][1:1]={{7},{8}}") == [.array([.text("7")]), .array([.text("8")])])
        #expect(try PostgresArrayLiteral.parse("{{},{}}") == [.array([]), .array([])])
    }

    @Test func rejectsMalformedLiterals() {
        for bad in ["", "1,2", "{1,2", "1,2}", "{\"a}", "{a\"b}", "{,}", "{1,}", "{,1}", "{1}x", "{1}}", "{{1}", "{a{b}",
                    "{\"a\"b}", "{a\\}", "[1:2]{1,2}", "{1 2 \"x\"}"] {
            #expect(throws: PostgresArrayLiteral.ParseError.self, "\(bad)") { try PostgresArrayLiteral.parse(bad) }
        }
    }

    @Test func formatsLikeArrayOut() {
        #expect(PostgresArrayLiteral.format([]) == "{}")
        #expect(PostgresArrayLiteral.format([.text("1"), .null, .text("NULL"), .text("nUlL"), .text("nulls")]) == #"{1,NULL,"NULL","nUlL",nulls}"#)
        #expect(PostgresArrayLiteral.format([.text(""), .text(" "), .text("a,b"), .text("{"), .text("}"), .text("\""), .text("\\"), .text("\t")])
                == #"{""," ","a,b","{","}","\"","\\","# + "\"\t\"}")
        #expect(PostgresArrayLiteral.format([.array([.text("1"), .text("2")]), .array([.text("3"), .null])]) == "{{1,2},{3,NULL}}")
        #expect(PostgresArrayLiteral.format([.text("ü✓"), .text("a-b.c")]) == "{ü✓,a-b.c}")
    }

    @Test func capturedArrayTextsRoundTripExactly() throws {
        let capture = try DecodedCapture(CapturedPgOutput.peekV1)
        var checked = 0
        for row in capture.rows {
            guard case let .insert(insert) = row.message, let relation = row.decoder.relations[insert.relationID] else { continue }
            for (column, value) in insert.newTuple.named(by: relation)! {
                guard let text = value.text, text.hasPrefix("{"),
                      column.typeOID != PostgresTypeOID.json, column.typeOID != PostgresTypeOID.jsonb else { continue }
                #expect(PostgresArrayLiteral.format(try PostgresArrayLiteral.parse(text)) == text)
                checked += 1
            }
        }
        #expect(checked >= 15)
    }

    @Test func randomElementsRoundTrip() throws {
        var rng = SplitMix(seed: 42)
        let alphabet: [String] = ["a", "Z", "0", " ", ",", "{", "}", "\"", "\\", "\t", "\n", "ü", "😀", "N", "U", "L", "'", "=", "["]
        func text() -> String {
            let n = Int(rng.next() % 6)
            if n == 5 { return ["NULL", "null", "", " NULL "][Int(rng.next() % 4)] }
            return (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
        }
        func elements(depth: Int) -> [E] {
            let count = Int(rng.next() % 4)
            if depth < 2, rng.next() % 3 == 0 {
                let inner = Int(rng.next() % 3) + 1
                return (0..<count).map { _ in .array((0..<inner).map { _ in rng.next() % 5 == 0 ? .null : .text(text()) }) }
            }
            return (0..<count).map { _ in rng.next() % 5 == 0 ? .null : .text(text()) }
        }
        for _ in 0..<2000 {
            let e = elements(depth: 0)
            let literal = PostgresArrayLiteral.format(e)
            #expect(try PostgresArrayLiteral.parse(literal) == e, "\(literal)")
        }
    }
}
