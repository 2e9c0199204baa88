/// What the binlog cannot tell about a column and the catalog can: a LONGTEXT that holds JSON
/// (MariaDB's JSON is LONGTEXT with a `json_valid` check), and the UUID / INET6 / INET4 data
/// types, which the binlog sends as fixed-length binary strings.
///
/// Invariant: looked up by column name from `information_schema` (or the pipeline's `json:` list).
public enum MariaDBSemanticType: String, Sendable, Equatable {
    case json, uuid, inet6, inet4
}
