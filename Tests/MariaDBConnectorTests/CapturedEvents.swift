import DeltaCore
import Testing
@testable import MariaDBConnector

/// The captured binlog decoded as the source would: table maps by id, row images per table, in
/// order, with the header of each rows event (for echo flags and times).
struct CapturedEvents {
    struct Change {
        var table: String
        var row: BinlogRowsDecoder.Row
        var header: BinlogEvent.Header
    }

    var events: [BinlogEvent] = []
    var changes: [Change] = []

    static let semantics: [String: MariaDBSemanticType] = ["j": .json, "u": .uuid, "i6": .inet6, "i4": .inet4]

    init() throws {
        var maps: [UInt64: BinlogTableMap] = [:]
        var checksum = true
        for hex in CapturedBinlog.events {
            let event = try BinlogEvent.decode(CapturedEvents.bytes(hex), checksum: checksum)
            events.append(event)
            switch event.body {
            case let .formatDescription(c): checksum = c
            case let .tableMap(map): maps[map.tableID] = map
            case let .rows(rows):
                let map = try #require(maps[rows.tableID])
                for row in try BinlogRowsDecoder.decode(rows, map, semantics: map.table == "t_str" ? Self.semantics : [:]) {
                    changes.append(Change(table: map.table, row: row, header: event.header))
                }
            default: break
            }
        }
    }

    func rows(_ table: String) -> [Change] { changes.filter { $0.table == table } }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
        while let hi = it.next(), let lo = it.next() { out.append(nibble(hi) << 4 | nibble(lo)) }
        return out
    }
}
