/// A source position of the MongoDB connector, as the text the engine checkpoints:
/// `ts:S.I` (start at this cluster time, inclusive: after a snapshot), `rt:S.I:HEX` (resume after
/// this resume token, whose event has cluster time S.I) or `sa:S.I:HEX` (start after the token of
/// an `invalidate` event). HEX is the token document's BSON.
///
/// Invariant: `description` parses back to the same position.
public enum MongoPosition: Sendable, Equatable, CustomStringConvertible {
    case operationTime(MongoClusterTime)
    case resumeAfter(MongoClusterTime, token: BSONDocument)
    case startAfter(MongoClusterTime, token: BSONDocument)

    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let time = MongoClusterTime(parts[1]) else { return nil }
        switch parts[0] {
        case "ts":
            guard parts.count == 2 else { return nil }
            self = .operationTime(time)
        case "rt", "sa":
            guard parts.count == 3, let bytes = MongoPosition.bytes(hex: parts[2]), let token = try? BSONReader.document(bytes) else { return nil }
            self = parts[0] == "rt" ? .resumeAfter(time, token: token) : .startAfter(time, token: token)
        default:
            return nil
        }
    }

    /// The cluster time this position stands for.
    public var time: MongoClusterTime {
        switch self {
        case let .operationTime(t), let .resumeAfter(t, _), let .startAfter(t, _): t
        }
    }

    public var description: String {
        switch self {
        case let .operationTime(t): "ts:\(t)"
        case let .resumeAfter(t, token): "rt:\(t):" + MongoValueMapping.hex(BSONWriter.bytes(token))
        case let .startAfter(t, token): "sa:\(t):" + MongoValueMapping.hex(BSONWriter.bytes(token))
        }
    }

    /// The change stream option that starts after this position.
    var option: (String, BSONValue) {
        switch self {
        case let .operationTime(t): ("startAtOperationTime", .timestamp(seconds: t.seconds, increment: t.increment))
        case let .resumeAfter(_, token): ("resumeAfter", .document(token))
        case let .startAfter(_, token): ("startAfter", .document(token))
        }
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var i = 0
        while i < utf8.count {
            guard let h = nibble(utf8[i]), let l = nibble(utf8[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}
