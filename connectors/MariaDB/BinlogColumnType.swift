/// The MySQL/MariaDB field type codes that appear in TABLE_MAP events (`enum_field_types`).
///
/// Invariant: `rawValue` is the byte the server writes; unknown codes are kept as `.other(code)`
/// so that a table with an unsupported column still decodes up to that column with a clear error.
public enum BinlogColumnType: Sendable, Equatable, Hashable {
    case decimal, tiny, short, long, float, double, null, timestamp, longlong, int24, date, time, datetime, year
    case newdate, varchar, bit, timestamp2, datetime2, time2, json, newDecimal, enumType, setType
    case tinyBlob, mediumBlob, longBlob, blob, varString, string, geometry
    case other(UInt8)

    public init(code: UInt8) {
        switch code {
        case 0: self = .decimal
        case 1: self = .tiny
        case 2: self = .short
        case 3: self = .long
        case 4: self = .float
        case 5: self = .double
        case 6: self = .null
        case 7: self = .timestamp
        case 8: self = .longlong
        case 9: self = .int24
        case 10: self = .date
        case 11: self = .time
        case 12: self = .datetime
        case 13: self = .year
        case 14: self = .newdate
        case 15: self = .varchar
        case 16: self = .bit
        case 17: self = .timestamp2
        case 18: self = .datetime2
        case 19: self = .time2
        case 245: self = .json
        case 246: self = .newDecimal
        case 247: self = .enumType
        case 248: self = .setType
        case 249: self = .tinyBlob
        case 250: self = .mediumBlob
        case 251: self = .longBlob
        case 252: self = .blob
        case 253: self = .varString
        case 254: self = .string
        case 255: self = .geometry
        default: self = .other(code)
        }
    }

    /// Bytes of TABLE_MAP metadata this type carries.
    var metadataLength: Int {
        switch self {
        case .float, .double, .blob, .tinyBlob, .mediumBlob, .longBlob, .geometry, .json, .timestamp2, .datetime2, .time2: 1
        case .varchar, .varString, .bit, .newDecimal, .decimal, .string, .enumType, .setType: 2
        default: 0
        }
    }

    /// Types whose signedness the SIGNEDNESS metadata describes (one bit each, in column order).
    var isNumeric: Bool {
        switch self {
        case .tiny, .short, .int24, .long, .longlong, .newDecimal, .decimal, .float, .double: true
        default: false
        }
    }

    /// Types whose character set the DEFAULT_CHARSET / COLUMN_CHARSET metadata describes.
    var isCharacter: Bool {
        switch self {
        case .string, .varchar, .varString, .blob, .tinyBlob, .mediumBlob, .longBlob, .json: true
        default: false
        }
    }

    var name: String {
        switch self {
        case .decimal: "DECIMAL(old)"
        case .tiny: "TINYINT"
        case .short: "SMALLINT"
        case .long: "INT"
        case .float: "FLOAT"
        case .double: "DOUBLE"
        case .null: "NULL"
        case .timestamp: "TIMESTAMP"
        case .longlong: "BIGINT"
        case .int24: "MEDIUMINT"
        case .date: "DATE"
        case .time: "TIME"
        case .datetime: "DATETIME"
        case .year: "YEAR"
        case .newdate: "NEWDATE"
        case .varchar: "VARCHAR"
        case .bit: "BIT"
        case .timestamp2: "TIMESTAMP"
        case .datetime2: "DATETIME"
        case .time2: "TIME"
        case .json: "JSON"
        case .newDecimal: "DECIMAL"
        case .enumType: "ENUM"
        case .setType: "SET"
        case .tinyBlob: "TINYBLOB"
        case .mediumBlob: "MEDIUMBLOB"
        case .longBlob: "LONGBLOB"
        case .blob: "BLOB"
        case .varString: "VARCHAR"
        case .string: "CHAR"
        case .geometry: "GEOMETRY"
        case let .other(code): "type \(code)"
        }
    }
}
