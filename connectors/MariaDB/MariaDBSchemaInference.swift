import DeltaCore
import DeltaConnector

/// Column types for `create_tables`, inferred from the values the bridge is about to write (the
/// engine passes values, not the source's declared types): the first non-null value of an
/// attribute decides.
///
/// Invariant: every type can hold every value of its kind (BIGINT, DOUBLE, DECIMAL(65,30),
/// DATETIME(6), JSON, LONGTEXT, LONGBLOB); key columns get indexable types (VARCHAR(255),
/// VARBINARY(255)).
enum MariaDBSchemaInference {
    static func columnTypes(_ patches: [DocumentPatch], keys: Set<String>) -> [String: String] {
        var out: [String: String] = [:]
        var decided = Set<String>()
        func note(_ name: String, _ value: Value) {
            if decided.contains(name) { return }
            if value == .null {
                // Only nulls so far: text until a value says otherwise.
                if out[name] == nil { out[name] = "LONGTEXT" }
                return
            }
            out[name] = type(of: value, key: keys.contains(name))
            decided.insert(name)
        }
        for p in patches {
            for (k, v) in p.key { note(k, v) }
            switch p.action {
            case let .upsert(set, _): for (k, v) in set { note(k, v) }
            case let .replace(document): for (k, v) in document { note(k, v) }
            case .delete: break
            }
        }
        return out
    }

    static func type(of value: Value, key: Bool) -> String {
        switch value {
        case .null: return "LONGTEXT"
        case .bool: return "BOOLEAN"
        case .int: return "BIGINT"
        case .double: return "DOUBLE"
        case .decimal: return "DECIMAL(65,30)"
        case .string: return key ? "VARCHAR(255)" : "LONGTEXT"
        case .bytes: return key ? "VARBINARY(255)" : "LONGBLOB"
        case .timestamp: return "DATETIME(6)"
        case .array, .object: return "JSON"
        }
    }
}
