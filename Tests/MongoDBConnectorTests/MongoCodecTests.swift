import DeltaConnector
import DeltaCore
import Testing
@testable import MongoDBConnector

/// The BSON codec, the value mapping and the change-event decoder, on captured bytes (no server).
@Suite struct MongoCodecTests {
    @Test func capturedEventsDecodeAndReencodeByteForByte() throws {
        for bytes in CapturedChangeEvents.events {
            let document = try BSONReader.document(bytes)
            #expect(BSONWriter.bytes(document) == bytes)
        }
    }

    @Test func capturedInsertCarriesEveryType() throws {
        let decoder = MongoChangeDecoder(nesting: .top, collections: ["c"])
        let (outcome, time, token) = try decoder.decode(try BSONReader.document(CapturedChangeEvents.events[0]))
        #expect(time != nil)
        #expect(token?["_data"] != nil)
        guard case let .change(change) = outcome else { Issue.record("not a change: \(outcome)"); return }
        #expect(change.operation == .upsert)
        #expect(change.image == .full)
        #expect(change.matchEchoes)
        #expect(change.commitTime == time?.micros)
        let a = change.attributes
        #expect(a["_id"] == .string("$oid:65a1b2c3d4e5f60718293a4b"))
        #expect(a["i32"] == .int(7))
        #expect(a["i64"] == .int(1 << 40))
        #expect(a["d"] == .double(1.5))
        #expect(a["dec"] == .decimal(ExactDecimal("12345.678901234567890")!))
        #expect(a["s"] == .string("héllo"))
        #expect(a["b"] == .bool(true))
        #expect(a["date"] == .timestamp(1_709_208_000_123_000))
        #expect(a["ts"] == .object(["$timestamp": .object(["t": .int(1_700_000_000), "i": .int(3)])]))
        #expect(a["bin"] == .bytes([0, 1, 255]))
        #expect(a["uuid"] == .object(["$binary": .object(["base64": .string(Base64.encode(Array("0123456789abcdef".utf8))), "subType": .string("04")])]))
        #expect(a["n"] == .null)
        #expect(a["arr"] == .array([.int(1), .string("two"), .array([.int(3)])]))
        #expect(a["doc"] == .object(["x": .object(["y": .int(1)]), "z": .string("q")]))
        #expect(a["re"] == .object(["$regex": .string("^a.*"), "$options": .string("i")]))
        #expect(a["mn"] == .object(["$minKey": .int(1)]))
        #expect(a["mx"] == .object(["$maxKey": .int(1)]))
    }

    @Test func everyValueMapsBackToTheSameBSON() throws {
        let insert = try BSONReader.document(CapturedChangeEvents.events[0])
        guard case let .document(full)? = insert["fullDocument"] else { Issue.record("no fullDocument"); return }
        for (name, bson) in full.fields {
            let back = try MongoValueMapping.bson(MongoValueMapping.value(bson))
            if name == "dec" {
                // Decimal128 keeps trailing zeros; the exact decimal does not (same number).
                #expect(MongoValueMapping.value(back) == MongoValueMapping.value(bson))
            } else {
                #expect(back == bson, "field \(name)")
            }
        }
    }

    @Test func capturedUpdateIsPartialWithRemovedFields() throws {
        let decoder = MongoChangeDecoder(nesting: .top, collections: ["c"])
        let (outcome, _, _) = try decoder.decode(try BSONReader.document(CapturedChangeEvents.events[1]))
        guard case let .change(change) = outcome else { Issue.record("not a change: \(outcome)"); return }
        #expect(change.image == .partial)
        #expect(change.attributes["s"] == .string("bye"))
        // `doc.x.y` and `doc.z` need the looked-up document, which was gone: not reported.
        #expect(change.attributes["doc"] == nil)
        #expect(change.removed == ["n"])
    }

    @Test func capturedReplaceAndDelete() throws {
        let decoder = MongoChangeDecoder(nesting: .top, collections: ["c"])
        let (replace, _, _) = try decoder.decode(try BSONReader.document(CapturedChangeEvents.events[2]))
        guard case let .change(r) = replace else { Issue.record("not a change"); return }
        #expect(r.image == .full)
        #expect(r.attributes == ["_id": .string("$oid:65a1b2c3d4e5f60718293a4b"), "only": .int(1)])
        let (delete, _, _) = try decoder.decode(try BSONReader.document(CapturedChangeEvents.events[3]))
        guard case let .change(d) = delete else { Issue.record("not a change"); return }
        #expect(d.operation == .delete)
        #expect(d.attributes == ["_id": .string("$oid:65a1b2c3d4e5f60718293a4b")])
    }

    @Test func otherCollectionsAreIgnored() throws {
        let decoder = MongoChangeDecoder(nesting: .top, collections: ["other"])
        let (outcome, _, _) = try decoder.decode(try BSONReader.document(CapturedChangeEvents.events[0]))
        #expect(outcome == .ignored)
    }

    @Test func nestedPathsModeMakesDottedAttributes() throws {
        let update = BSONDocument([("_id", .document(BSONDocument([("_data", .string("00"))]))), ("operationType", .string("update")),
                                   ("clusterTime", .timestamp(seconds: 10, increment: 2)),
                                   ("ns", .document(BSONDocument([("db", .string("d")), ("coll", .string("c"))]))),
                                   ("documentKey", .document(BSONDocument([("_id", .int32(1))]))),
                                   ("updateDescription", .document(BSONDocument([("updatedFields", .document(BSONDocument([("a.b", .int32(5)), ("top", .string("t"))]))),
                                                                                 ("removedFields", .array([]))]))),
                                   ("fullDocument", .null)])
        let (outcome, time, _) = try MongoChangeDecoder(nesting: .paths, collections: ["c"]).decode(update)
        #expect(time == MongoClusterTime(seconds: 10, increment: 2))
        guard case let .change(change) = outcome else { Issue.record("not a change"); return }
        #expect(change.attributes == ["_id": .int(1), "a.b": .int(5), "top": .string("t")])
        #expect(change.commitTime == 10_000_002)
        let doc = BSONDocument([("_id", .int32(1)), ("a", .document(BSONDocument([("b", .int32(1)), ("c", .document(BSONDocument([("d", .bool(true))])))]))), ("e", .document(BSONDocument()))])
        let flat = MongoValueMapping.attributes(doc, nesting: .paths)
        #expect(flat == ["_id": .int(1), "a.b": .int(1), "a.c.d": .bool(true), "e": .object([:])])
        let rebuilt = try MongoValueMapping.document(attributes: flat, nesting: .paths)
        #expect(MongoValueMapping.object(rebuilt) == MongoValueMapping.object(doc))
    }

    @Test func positionsRoundTrip() throws {
        let token = BSONDocument([("_data", .string("8263A1B2C3000000012B022C0100296E5A1004"))])
        for p in [MongoPosition.operationTime(MongoClusterTime(seconds: 1_700_000_000, increment: 7)),
                  .resumeAfter(MongoClusterTime(seconds: 5, increment: 1), token: token),
                  .startAfter(MongoClusterTime(seconds: 6, increment: 0), token: token)] {
            #expect(MongoPosition(p.description) == p)
        }
        #expect(MongoPosition("0/16B3748") == nil)
        #expect(MongoPosition("rt:1.2:zz") == nil)
    }

    @Test func malformedBSONIsRefused() {
        #expect(throws: BSONError.self) { try BSONReader.document([5, 0, 0, 0]) }
        #expect(throws: BSONError.self) { try BSONReader.document([12, 0, 0, 0, 0x10, 0x61, 0, 1, 0, 0, 0, 0, 9]) }
        #expect(throws: BSONError.self) { try BSONReader.document([8, 0, 0, 0, 0x42, 0x61, 0, 0]) }
    }

    @Test func valuesMongoCannotHoldAreRefusedWithTheReason() throws {
        let huge = Value.decimal(ExactDecimal("1234567890123456789012345678901234567890")!)
        #expect(throws: MongoValueMapping.Unrepresentable.self) { try MongoValueMapping.bson(huge) }
        #expect(throws: MongoValueMapping.Unrepresentable.self) { try MongoValueMapping.bson(.object(["a\u{0}b": .int(1)])) }
        // Sub-millisecond time is truncated to MongoDB's millisecond dates.
        #expect(try MongoValueMapping.bson(.timestamp(1_500_999)) == .date(1_500))
        #expect(try MongoValueMapping.bson(.timestamp(-1)) == .date(-1))
        #expect(try MongoValueMapping.bson(.int(1 << 31)) == .int64(1 << 31))
        #expect(try MongoValueMapping.bson(.string("$oid:zz")) == .string("$oid:zz"))
    }
}
