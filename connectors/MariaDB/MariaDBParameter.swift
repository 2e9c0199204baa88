/// One value of a statement in the form the server takes it: as a bound parameter of a prepared
/// statement, or spelled as an SQL literal (guards, deletes, single-row statements).
///
/// Invariant: `literal` and the bound parameter mean the same value to the server.
enum MariaDBParameter: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    /// An exact decimal's digits, sent as text the server converts without rounding.
    case decimal(String)
    case text(String)
    case bytes([UInt8])

    var literal: String {
        switch self {
        case .null: return "NULL"
        case let .int(i): return String(i)
        case let .double(d): return "\(d)"
        case let .decimal(s): return s.contains("E") ? MariaDBSQL.string(s) : s
        case let .text(s): return MariaDBSQL.string(s)
        case let .bytes(b): return MariaDBSQL.hex(b)
        }
    }
}
