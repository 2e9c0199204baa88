/// The OIDs of the built-in PostgreSQL types the connector maps, their array types, and lookups between
/// them (values from `pg_type.dat`, identical in every PostgreSQL since 9.x).
///
/// Invariant: every array OID listed here has exactly one element OID, and vice versa.
public enum PostgresTypeOID {
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    /// `"char"`: the one-byte internal type.
    public static let char: UInt32 = 18
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let oid: UInt32 = 26
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    /// `character(n)`
    public static let bpchar: UInt32 = 1042
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let time: UInt32 = 1083
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let interval: UInt32 = 1186
    public static let timetz: UInt32 = 1266
    public static let numeric: UInt32 = 1700
    public static let uuid: UInt32 = 2950
    public static let jsonb: UInt32 = 3802

    /// (element OID, array OID, type name) of every mapped type.
    static let table: [(element: UInt32, array: UInt32, name: String)] = [
        (bool, 1000, "bool"), (bytea, 1001, "bytea"), (char, 1002, "char"), (name, 1003, "name"),
        (int8, 1016, "int8"), (int2, 1005, "int2"), (int4, 1007, "int4"), (text, 1009, "text"),
        (oid, 1028, "oid"), (json, 199, "json"), (float4, 1021, "float4"), (float8, 1022, "float8"),
        (bpchar, 1014, "bpchar"), (varchar, 1015, "varchar"), (date, 1182, "date"), (time, 1183, "time"),
        (timestamp, 1115, "timestamp"), (timestamptz, 1185, "timestamptz"), (interval, 1187, "interval"),
        (timetz, 1270, "timetz"), (numeric, 1231, "numeric"), (uuid, 2951, "uuid"), (jsonb, 3807, "jsonb"),
    ]

    private static let arrayByElement: [UInt32: UInt32] = Dictionary(uniqueKeysWithValues: table.map { ($0.element, $0.array) })
    private static let nameByOID: [UInt32: String] = Dictionary(uniqueKeysWithValues:
        table.map { ($0.element, $0.name) } + table.map { ($0.array, "_" + $0.name) })
    private static let oidByName: [String: UInt32] = Dictionary(uniqueKeysWithValues: nameByOID.map { ($0.value, $0.key) })

    /// The element type of a mapped array type (`_int4` → `int4`); nil for anything else. Asked
    /// for every value decoded or encoded, so a switch rather than a hash (the array OIDs of
    /// ``table``, element first; a test keeps the two the same).
    public static func element(ofArray oid: UInt32) -> UInt32? {
        switch oid {
        case 1000: bool
        case 1001: bytea
        case 1002: char
        case 1003: name
        case 1016: int8
        case 1005: int2
        case 1007: int4
        case 1009: text
        case 1028: Self.oid
        case 199: json
        case 1021: float4
        case 1022: float8
        case 1014: bpchar
        case 1015: varchar
        case 1182: date
        case 1183: time
        case 1115: timestamp
        case 1185: timestamptz
        case 1187: interval
        case 1270: timetz
        case 1231: numeric
        case 2951: uuid
        case 3807: jsonb
        default: nil
        }
    }

    /// The array type of a mapped element type (`int4` → `_int4`).
    public static func array(of element: UInt32) -> UInt32? { arrayByElement[element] }

    /// Whether the OID is one of the mapped scalar or array types.
    public static func isKnown(_ oid: UInt32) -> Bool { nameByOID[oid] != nil }

    /// The `pg_type.typname` of a mapped type (`int4`, `_text`), for messages; `oid N` otherwise.
    public static func name(of oid: UInt32) -> String { nameByOID[oid] ?? "oid \(oid)" }

    /// The OID of a mapped built-in type given its `pg_catalog` name (`int4`, `_text`).
    public static func builtin(named name: String) -> UInt32? { oidByName[name] }

    /// The OID to decode a column as: the OID itself when it is mapped, else the built-in base type named by a
    /// Type message in `pg_catalog` (PostgreSQL names a domain's base type there), else the OID unchanged.
    public static func resolve(_ oid: UInt32, types: [UInt32: PgOutputMessage.TypeInfo]) -> UInt32 {
        if isKnown(oid) { return oid }
        if let info = types[oid], info.namespace.isEmpty || info.namespace == "pg_catalog",
           let base = builtin(named: info.name) {
            return base
        }
        return oid
    }
}
