/// A TABLE_MAP event: the shape of the table the following row events refer to by `tableID`,
/// with what `binlog_row_metadata = FULL` adds (names, signedness, character sets, ENUM/SET names).
///
/// Invariant: `columns.count` is the column count the event declares; every column has a type
/// and its raw metadata; names are empty when the server sent none (binlog_row_metadata=MINIMAL).
public struct BinlogTableMap: Sendable, Equatable {
    /// One column as the event describes it.
    public struct Column: Sendable, Equatable {
        public var type: BinlogColumnType
        /// The type's TABLE_MAP metadata (0, 1 or 2 bytes as one number: first byte in the low bits).
        public var metadata: UInt16
        public var nullable: Bool
        public var name: String
        public var unsigned: Bool
        /// Character set id (63 = binary) for character columns; nil when unknown.
        public var charset: UInt32?
        /// ENUM or SET member names, when the column is one.
        public var members: [String]?
    }

    public var tableID: UInt64
    public var database: String
    public var table: String
    public var columns: [Column]

    /// Decodes the event body (after the 19-byte header, before any checksum).
    static func decode(_ r: inout BinlogByteReader) throws(BinlogDecodingError) -> BinlogTableMap {
        let tableID = try r.le(6, "table id")
        try r.skip(2, "table map flags")
        let dbLength = Int(try r.u8("database name length"))
        let database = String(decoding: try r.take(dbLength, "database name"), as: UTF8.self)
        try r.skip(1, "database name terminator")
        let tableLength = Int(try r.u8("table name length"))
        let table = String(decoding: try r.take(tableLength, "table name"), as: UTF8.self)
        try r.skip(1, "table name terminator")
        let count = try r.count("column count")
        let types = try r.take(count, "column types").map(BinlogColumnType.init(code:))
        let metaLength = try r.count("metadata length")
        var meta = BinlogByteReader(Array(try r.take(metaLength, "column metadata")))
        var columns: [Column] = []
        columns.reserveCapacity(count)
        for type in types {
            var m: UInt16 = 0
            switch type.metadataLength {
            case 1: m = UInt16(try meta.u8("metadata of \(type.name)"))
            case 2:
                // STRING/ENUM/SET and NEWDECIMAL write (real type | precision, length | scale) as two
                // bytes in that order; VARCHAR and BIT as a little-endian number.
                m = UInt16(try meta.le(2, "metadata of \(type.name)"))
            default: break
            }
            columns.append(Column(type: type, metadata: m, nullable: true, name: "", unsigned: false, charset: nil, members: nil))
        }
        let nullable = try r.bitmap(count, "nullable bitmap")
        for i in 0..<count { columns[i].nullable = nullable[i] }
        try decodeOptionalMetadata(&r, &columns)
        return BinlogTableMap(tableID: tableID, database: database, table: table, columns: columns)
    }

    /// The real type of a STRING column (ENUM and SET are sent as STRING with their real type in
    /// the metadata).
    static func realType(_ c: Column) -> BinlogColumnType {
        guard c.type == .string else { return c.type }
        let first = UInt8(c.metadata & 0xff)
        if first == 247 { return .enumType }
        if first == 248 { return .setType }
        return .string
    }

    private static func decodeOptionalMetadata(_ r: inout BinlogByteReader, _ columns: inout [Column]) throws(BinlogDecodingError) {
        let numeric = columns.indices.filter { columns[$0].type.isNumeric }
        let character = columns.indices.filter { columns[$0].type.isCharacter && realType(columns[$0]) == .string || [.varchar, .varString, .blob, .tinyBlob, .mediumBlob, .longBlob, .json].contains(columns[$0].type) }
        let enumSet = columns.indices.filter { [.enumType, .setType].contains(realType(columns[$0])) }
        let sets = columns.indices.filter { realType(columns[$0]) == .setType }
        let enums = columns.indices.filter { realType(columns[$0]) == .enumType }
        while !r.isAtEnd {
            let kind = try r.u8("optional metadata type")
            let length = try r.count("optional metadata length")
            var f = BinlogByteReader(Array(try r.take(length, "optional metadata field \(kind)")))
            switch kind {
            case 1: // SIGNEDNESS: one bit per numeric column, most significant bit first; set = unsigned
                let bytes = try f.take(f.remaining)
                for (n, i) in numeric.enumerated() where n / 8 < bytes.count {
                    columns[i].unsigned = bytes[bytes.startIndex + n / 8] & (0x80 >> UInt8(n % 8)) != 0
                }
            case 2, 10: // DEFAULT_CHARSET / ENUM_AND_SET_DEFAULT_CHARSET: default, then (index, charset) pairs
                let targets = kind == 2 ? character : enumSet
                let def = UInt32(try f.lenenc("default charset"))
                var charsets = [UInt32](repeating: def, count: targets.count)
                while !f.isAtEnd {
                    let index = Int(try f.lenenc("charset column index"))
                    let cs = UInt32(try f.lenenc("charset"))
                    if index < charsets.count { charsets[index] = cs }
                }
                for (n, i) in targets.enumerated() { columns[i].charset = charsets[n] }
            case 3, 11: // COLUMN_CHARSET / ENUM_AND_SET_COLUMN_CHARSET: one per column
                let targets = kind == 3 ? character : enumSet
                for i in targets where !f.isAtEnd { columns[i].charset = UInt32(try f.lenenc("column charset")) }
            case 4: // COLUMN_NAME
                for i in columns.indices where !f.isAtEnd {
                    columns[i].name = String(decoding: try f.lenencBytes("column name"), as: UTF8.self)
                }
            case 5, 6: // SET_STR_VALUE / ENUM_STR_VALUE
                for i in (kind == 5 ? sets : enums) where !f.isAtEnd {
                    let n = try f.count("member count")
                    var members: [String] = []
                    for _ in 0..<n { members.append(String(decoding: try f.lenencBytes("member name"), as: UTF8.self)) }
                    columns[i].members = members
                }
            default:
                break // geometry types, primary key: not needed
            }
        }
    }
}
