import DeltaCore
import DeltaConnector

/// How the connector reads and writes values of one column type, after resolving domains,
/// enums and arrays through the catalog.
public enum PostgresTypeKind: Sendable, Equatable {
    /// A type ``PostgresValueMapping`` maps (scalar or array), possibly the base of a domain.
    case mapped(UInt32)
    /// An enum: its labels as strings.
    case enumeration
    /// An array whose element type is not mapped (an enum or unknown type): elements as strings.
    case array(element: UInt32, elementIsEnum: Bool)
    /// Anything else (inet, ranges, composites, ...): the server's text as a string.
    case unknown(String)
}

/// One column's type as the connector uses it: the OID, the type modifier, the resolved kind and
/// the name to cast parameters to (`format_type(oid, NULL)`, no modifier, so that the column's
/// own modifier is checked on assignment instead of silently truncating).
public struct PostgresColumnType: Sendable, Equatable {
    public var oid: UInt32
    public var typeModifier: Int32
    public var kind: PostgresTypeKind
    public var castName: String

    public init(oid: UInt32, typeModifier: Int32 = -1, kind: PostgresTypeKind, castName: String) {
        self.oid = oid
        self.typeModifier = typeModifier
        self.kind = kind
        self.castName = castName
    }

    /// The value of the column's text; `isFallback` for unmapped types (not for enums).
    public func decode(_ text: String) -> PgDecodedValue {
        switch kind {
        case let .mapped(oid): return PostgresValueMapping.decode(text, typeOID: oid)
        case .enumeration: return PgDecodedValue(.string(text))
        case let .array(element, isEnum):
            let decoded = PostgresValueMapping.decodeArray(text, elementOID: element)
            return isEnum ? PgDecodedValue(decoded.value) : decoded
        case .unknown: return PgDecodedValue(.string(text), isFallback: true)
        }
    }

    /// ``decode(_:)`` of the text given as UTF-8 bytes: numbers, timestamps, booleans and JSON
    /// of mapped columns are parsed from the bytes, without making a string of them first.
    public func decode(utf8 bytes: UnsafeBufferPointer<UInt8>) -> PgDecodedValue {
        if case let .mapped(oid) = kind, let value = PostgresValueMapping.decodeWithoutString(bytes, typeOID: oid) {
            return PgDecodedValue(value)
        }
        return decode(String(decoding: bytes, as: UTF8.self))
    }

    /// The text parameter for `value` (nil = NULL), or why the column cannot hold it.
    ///
    /// Values that stores without the type deliver as text or numbers (SQLite's numeric text,
    /// 0/1 booleans) are passed as text for the server to cast; it rejects what does not parse.
    public func literal(for value: Value) throws(PgValueMappingError) -> String? {
        switch kind {
        case let .mapped(oid):
            do {
                return try PostgresValueMapping.literal(for: value, typeOID: oid, typeModifier: typeModifier)
            } catch {
                if let text = PostgresColumnType.lenient(value, oid) { return text }
                throw error
            }
        case .enumeration, .unknown:
            return try PostgresValueMapping.literal(for: value, typeOID: oid)
        case let .array(element, _):
            if case .null = value { return nil }
            return try PostgresValueMapping.arrayLiteral(for: value, elementOID: element)
        }
    }

    /// Text for a value of another kind than the mapped type expects, when the server can cast
    /// it: strings into numbers, booleans, bytea (`\x..`), and integers into booleans.
    static func lenient(_ value: Value, _ oid: UInt32) -> String? {
        typealias T = PostgresTypeOID
        switch value {
        case let .string(raw):
            let s = raw.trimmingSpaces()
            switch oid {
            case T.int2, T.int4, T.int8, T.oid:
                return Int64(s) != nil ? s : nil
            case T.numeric:
                return ExactDecimal(s) != nil || ["NaN", "Infinity", "-Infinity"].contains(s) ? s : nil
            case T.float4, T.float8:
                return Double(s) != nil || ["NaN", "Infinity", "-Infinity"].contains(s) ? s : nil
            case T.bool:
                return ["t", "f", "true", "false", "1", "0", "yes", "no", "on", "off"].contains(s.lowercased()) ? s : nil
            default:
                return nil
            }
        case let .int(i) where oid == T.bool && (i == 0 || i == 1):
            return i == 1 ? "t" : "f"
        default:
            return nil
        }
    }

    /// Whether `=` exists for the type (json and unknown types are compared as jsonb or text).
    var comparison: Comparison {
        switch kind {
        case .mapped(PostgresTypeOID.json): return .jsonb
        case .mapped(199): return .jsonbArray
        case .mapped, .enumeration: return .equality
        case .array, .unknown: return .text
        }
    }

    enum Comparison { case equality, jsonb, jsonbArray, text }

    /// A short name for messages.
    public var displayName: String { castName }
}

/// A column of a table, as the sink and snapshot reader need it.
public struct PostgresColumn: Sendable, Equatable {
    public var name: String
    public var type: PostgresColumnType
    /// `GENERATED ALWAYS AS (...) STORED`: never written.
    public var isGenerated: Bool
    /// `GENERATED ALWAYS AS IDENTITY`: written with `OVERRIDING SYSTEM VALUE`.
    public var isIdentityAlways: Bool
}

/// The shape of one table: its columns in order, primary and unique keys and replica identity.
///
/// Invariant: `columns` holds no dropped column; `uniqueKeys` includes the primary key.
public struct PostgresTableSchema: Sendable {
    public var table: PostgresTableName
    public var columns: [PostgresColumn]
    public var primaryKey: [String]
    /// Column lists of the unique indexes without predicate or expression.
    public var uniqueKeys: [[String]]
    /// `relreplident`: `d` default, `n` nothing, `f` full, `i` index.
    public var replicaIdentity: Character
    /// The columns of the replica identity index (`i`), if any.
    public var replicaIdentityIndex: [String]
    /// `relkind`: `r` table, `p` partitioned table, `v` view, ...
    public var kind: Character
    private var indexByName: [String: Int]

    init(table: PostgresTableName, columns: [PostgresColumn], primaryKey: [String], uniqueKeys: [[String]],
         replicaIdentity: Character, replicaIdentityIndex: [String], kind: Character) {
        self.table = table
        self.columns = columns
        self.primaryKey = primaryKey
        self.uniqueKeys = uniqueKeys
        self.replicaIdentity = replicaIdentity
        self.replicaIdentityIndex = replicaIdentityIndex
        self.kind = kind
        var index = [String: Int]()
        for (i, c) in columns.enumerated() { index[c.name] = i }
        self.indexByName = index
    }

    public func column(_ name: String) -> PostgresColumn? {
        indexByName[name].map { columns[$0] }
    }

    public func hasColumn(_ name: String) -> Bool { indexByName[name] != nil }

    /// The position of the column `name` in ``columns``.
    public func columnIndex(_ name: String) -> Int? { indexByName[name] }

    /// Whether some unique index covers exactly these columns (in any order).
    public func isUniqueKey(_ names: [String]) -> Bool {
        let wanted = Set(names)
        return uniqueKeys.contains { Set($0) == wanted }
    }
}

/// Resolves type OIDs to ``PostgresTypeKind`` through `pg_type` (domains to their base type, enum
/// and array element types) and reads table shapes from `pg_attribute` and `pg_index`, caching
/// what it learnt.
///
/// Invariant: used on one worker with one connection at a time (the caller's).
final class PostgresCatalog: @unchecked Sendable {
    struct TypeRow {
        var typtype: Character
        var baseType: UInt32
        var element: UInt32
        var category: Character
        var name: String
        var castName: String
    }

    private var types: [UInt32: TypeRow] = [:]

    /// Loads the `pg_type` rows of `oids` that are not cached yet.
    func load(_ oids: some Sequence<UInt32>, _ conn: PGConnection) throws(PostgresServerError) {
        let missing = Set(oids).filter { types[$0] == nil && $0 != 0 }
        if missing.isEmpty { return }
        let list = "{" + missing.map(String.init).joined(separator: ",") + "}"
        let r = try conn.exec("SELECT oid, typtype, typbasetype, typelem, typcategory, typname, format_type(oid, NULL) FROM pg_type WHERE oid = ANY($1::oid[])", [list])
        for row in 0..<r.rowCount {
            guard let oid = r.value(row, 0).flatMap({ UInt32($0) }) else { continue }
            types[oid] = TypeRow(typtype: r.value(row, 1)?.first ?? "b", baseType: r.value(row, 2).flatMap { UInt32($0) } ?? 0,
                                 element: r.value(row, 3).flatMap { UInt32($0) } ?? 0, category: r.value(row, 4)?.first ?? "U",
                                 name: r.value(row, 5) ?? "oid \(oid)", castName: r.value(row, 6) ?? "text")
        }
    }

    /// The kind of a type OID, loading catalog rows as needed (domains over domains, arrays of
    /// domains). Built-in mapped OIDs need no query.
    func kind(of oid: UInt32, _ conn: PGConnection?, depth: Int = 0) throws(PostgresServerError) -> PostgresTypeKind {
        if PostgresTypeOID.isKnown(oid) { return .mapped(oid) }
        guard depth < 8 else { return .unknown("oid \(oid)") }
        if types[oid] == nil, let conn { try load([oid], conn) }
        guard let row = types[oid] else { return .unknown("oid \(oid)") }
        switch row.typtype {
        case "d":
            return try kind(of: row.baseType, conn, depth: depth + 1)
        case "e":
            return .enumeration
        default:
            if row.category == "A" && row.element != 0 {
                switch try kind(of: row.element, conn, depth: depth + 1) {
                case let .mapped(element):
                    if let array = PostgresTypeOID.array(of: element) { return .mapped(array) }
                    return .array(element: element, elementIsEnum: false)
                case .enumeration:
                    return .array(element: row.element, elementIsEnum: true)
                default:
                    return .array(element: row.element, elementIsEnum: false)
                }
            }
            return .unknown(row.name)
        }
    }

    /// The column type of `oid` with `typeModifier`.
    func columnType(_ oid: UInt32, typeModifier: Int32 = -1, _ conn: PGConnection?) throws(PostgresServerError) -> PostgresColumnType {
        let kind = try kind(of: oid, conn)
        let cast = types[oid]?.castName ?? (PostgresTypeOID.isKnown(oid) ? Self.castName(builtin: oid) : "text")
        return PostgresColumnType(oid: oid, typeModifier: typeModifier, kind: kind, castName: cast)
    }

    /// `pg_catalog` names of the mapped built-in types, usable as casts.
    static func castName(builtin oid: UInt32) -> String {
        if let element = PostgresTypeOID.element(ofArray: oid) { return "pg_catalog." + PostgresTypeOID.name(of: element) + "[]" }
        return oid == PostgresTypeOID.char ? "pg_catalog.\"char\"" : "pg_catalog." + PostgresTypeOID.name(of: oid)
    }

    /// The shape of a table, or nil when it does not exist.
    func table(_ table: PostgresTableName, _ conn: PGConnection) throws(PostgresServerError) -> PostgresTableSchema? {
        let qualified = PostgresSQL.table(table)
        let head = try conn.exec("SELECT c.oid, c.relkind, c.relreplident FROM pg_class c WHERE c.oid = to_regclass($1)", [qualified])
        guard head.rowCount == 1, let relid = head.value(0, 0) else { return nil }
        let kind = head.value(0, 1)?.first ?? "r"
        let identity = head.value(0, 2)?.first ?? "d"
        let cols = try conn.exec("""
            SELECT attname, atttypid, atttypmod, attgenerated <> '', attidentity = 'a'
            FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """, [relid])
        var oids = Set<UInt32>()
        for row in 0..<cols.rowCount { if let o = cols.value(row, 1).flatMap({ UInt32($0) }) { oids.insert(o) } }
        try load(oids.filter { !PostgresTypeOID.isKnown($0) }, conn)
        var columns: [PostgresColumn] = []
        for row in 0..<cols.rowCount {
            let oid = cols.value(row, 1).flatMap { UInt32($0) } ?? 0
            let mod = cols.value(row, 2).flatMap { Int32($0) } ?? -1
            columns.append(PostgresColumn(name: cols.value(row, 0) ?? "", type: try columnType(oid, typeModifier: mod, conn),
                                          isGenerated: cols.value(row, 3) == "t", isIdentityAlways: cols.value(row, 4) == "t"))
        }
        let idx = try conn.exec("""
            SELECT i.indisprimary, i.indisreplident,
                   (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
            FROM pg_index i
            WHERE i.indrelid = $1::oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indisvalid
            """, [relid])
        var primary: [String] = []
        var unique: [[String]] = []
        var identityIndex: [String] = []
        for row in 0..<idx.rowCount {
            guard let text = idx.value(row, 2), let elements = try? PostgresArrayLiteral.parse(text) else { continue }
            let names = elements.compactMap { element -> String? in
                if case let .text(t) = element { return t }
                return nil
            }
            unique.append(names)
            if idx.value(row, 0) == "t" { primary = names }
            if idx.value(row, 1) == "t" { identityIndex = names }
        }
        return PostgresTableSchema(table: table, columns: columns, primaryKey: primary, uniqueKeys: unique,
                                   replicaIdentity: identity, replicaIdentityIndex: identityIndex, kind: kind)
    }
}

extension String {
    /// Without leading and trailing spaces.
    func trimmingSpaces() -> String {
        var t = Substring(self)
        while t.first == " " { t = t.dropFirst() }
        while t.last == " " { t = t.dropLast() }
        return String(t)
    }
}
