import DeltaConnector
import DeltaCore
import Testing
@testable import CouchDBConnector

/// Decoding of CouchDB answers captured from a server (CouchDB 3 format, as the stand-in sends
/// it byte for byte): seqs kept verbatim, deleted rows, leaf revisions, exact numbers; no server
/// needed.
@Suite struct CouchDBCapturedResponseTests {
    static let changes = """
        {"results":[
        {"seq":"1-g1AAAABPeJzLYWBgYMxgTmEQTM4vTc5ISXIwNDLXMwBCwxygFFMiQx4Lw38gyMpgTmTMBQqxW5omG1maW2DTkgUAExwUWg","id":"a","changes":[{"rev":"1-a3168757e6684aa87902a3ae1ddae0d6"}],"doc":{"_id":"a","_rev":"1-a3168757e6684aa87902a3ae1ddae0d6","x":1,"n":{"b":[1,2.5,"é"]},"big":123456789012345678901234567890,"f":10000000000000000.0}},
        {"seq":"3-g1AAAABPeJzLYWBgYMxgTmEQTM4vTc5ISXIwNDLXMwBCwxygFFMiQx4Lw38gyMpgTmTOBQqxW5omG1maW2DTkgUAE2AUXA","id":"b","changes":[{"rev":"2-a87bf815f87ede4d0aa7dad810bb2f54"}],"deleted":true,"doc":{"_id":"b","_rev":"2-a87bf815f87ede4d0aa7dad810bb2f54","_deleted":true}},
        {"seq":"4-g1AAAABPeJzLYWBgYMxgTmEQTM4vTc5ISXIwNDLXMwBCwxygFFMiQx4Lw38gyMpgTmTOBQqxW5omG1maW2DTkgUAE2AUXA","id":"c","changes":[{"rev":"2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},{"rev":"2-cccccccccccccccccccccccccccccccc"}],"doc":{"_id":"c","_rev":"2-cccccccccccccccccccccccccccccccc","_conflicts":["2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"],"_attachments":{"a.txt":{"stub":true,"length":3}},"v":null}}
        ],
        "last_seq":"4-g1AAAABPeJzLYWBgYMxgTmEQTM4vTc5ISXIwNDLXMwBCwxygFFMiQx4Lw38gyMpgTmTOBQqxW5omG1maW2DTkgUAE2AUXA","pending":0}
        """

    @Test func aChangesPageKeepsSeqsVerbatimAndListsEveryLeaf() throws {
        let page = try CouchDBChangesPage(JSONCodec.parse(Self.changes), database: "db")
        #expect(page.rows.map(\.id) == ["a", "b", "c"])
        #expect(page.rows[0].seq.hasPrefix("1-g1AAAABPeJzLYWBgYMxgTmEQTM4v") && page.rows[0].seq.hasSuffix("ExwUWg"))
        #expect(page.lastSeq == page.rows[2].seq)
        #expect(page.pending == 0)
        #expect(page.rows.map(\.deleted) == [false, true, false])
        #expect(page.rows[2].leafRevs.count == 2)
    }

    @Test func documentsMapToAttributesWithoutMetadataAndWithExactNumbers() throws {
        let page = try CouchDBChangesPage(JSONCodec.parse(Self.changes), database: "db")
        let spec = CollectionSpec(name: "db", keyAttributes: ["_id"])
        let a = CouchDBValueMapping.attributes(of: page.rows[0].doc!, id: "a", spec: spec)
        #expect(a == ["_id": .string("a"), "x": .int(1), "n": .object(["b": .array([.int(1), .double(2.5), .string("é")])]),
                      "big": .decimal(ExactDecimal("123456789012345678901234567890")!), "f": .double(1e16)])
        let c = CouchDBValueMapping.attributes(of: page.rows[2].doc!, id: "c", spec: spec)
        #expect(c == ["_id": .string("c"), "v": .null])
        let byField = CollectionSpec(name: "db", keyAttributes: ["id"])
        #expect(CouchDBValueMapping.keyAttributes(id: "42", spec: byField) == ["id": .int(42)])
        #expect(CouchDBValueMapping.keyAttributes(id: "042", spec: byField) == ["id": .string("042")])
    }

    @Test func couchDB1NumericSeqsAndPositionsRoundTrip() throws {
        let page = try CouchDBChangesPage(JSONCodec.parse(#"{"results":[{"seq":12,"id":"x","changes":[{"rev":"1-a"}]}],"last_seq":12}"#), database: "old")
        #expect(page.rows.first?.seq == "12")
        #expect(page.lastSeq == "12")
        #expect(page.pending == nil)
        var p = CouchDBPosition()
        p.seqs["b"] = "2-xyz"
        p.seqs["a"] = "12"
        #expect(p.text == #"{"a":"12","b":"2-xyz"}"#)
        #expect(try CouchDBPosition(p.text, store: "s") == p)
        #expect(try CouchDBPosition("", store: "s").seq("any") == "0")
    }

    @Test func idsArePercentEncodedAsOnePathSegment() {
        #expect(CouchDBStoreConfig.path("my/db", "a b/ü") == "/my%2Fdb/a%20b%2F%C3%BC")
        #expect(CouchDBStoreConfig.path("db", "_design/v x") == "/db/_design/v%20x")
    }
}
