import DeltaCore
@testable import PostgresConnector

/// Bytes of a hex string (fixtures are generated, so malformed hex is a test bug and traps).
func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    precondition(digits.count % 2 == 0, "odd hex length")
    func value(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: preconditionFailure("bad hex digit")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
}

/// The captured peek rows decoded in order by one decoder, each with the decoder's state after it.
struct DecodedCapture {
    struct Row {
        var captured: CapturedMessage
        var message: PgOutputMessage
        /// The decoder right after decoding this message.
        var decoder: PgOutputDecoder
    }

    var rows: [Row] = []

    init(_ captured: [CapturedMessage]) throws {
        var decoder = PgOutputDecoder()
        for row in captured {
            let message = try decoder.decodeMessage(bytes(hex: row.hex))
            rows.append(Row(captured: row, message: message, decoder: decoder))
        }
    }

    var messages: [PgOutputMessage] { rows.map(\.message) }
}

extension PgOutputDecoder {
    /// The relation with this name.
    func relation(named name: String) -> PgOutputMessage.Relation? {
        relations.values.first { $0.name == name }
    }

    /// A row image's values decoded by column name, with the relation as this decoder knows it
    /// (TOAST-unchanged columns are absent).
    func values(_ tuple: PgTupleData, of relationID: UInt32) -> [String: PgDecodedValue] {
        let relation = relations[relationID]!
        var out: [String: PgDecodedValue] = [:]
        for (column, value) in tuple.named(by: relation)! {
            switch value {
            case .null: out[column.name] = PgDecodedValue(.null)
            case .unchangedToast: break
            case let .text(t):
                let oid = PostgresTypeOID.resolve(column.typeOID, types: types)
                out[column.name] = PostgresValueMapping.decode(String(decoding: t, as: UTF8.self), typeOID: oid)
            case .binary: preconditionFailure("binary columns are not captured")
            }
        }
        return out
    }
}

func dec(_ s: String) -> Value { .decimal(ExactDecimal(s)!) }
