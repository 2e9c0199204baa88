/// What the binlog cannot tell about a column and the catalog can: a LONGTEXT that holds JSON
/// (MariaDB's JSON is LONGTEXT with a `json_valid` check), the UUID / INET6 / INET4 data types,
/// which the binlog sends as fixed-length binary strings, and BOOLEAN (`TINYINT(1)`), whose 0 and
/// 1 are read as false and true.
///
/// Invariant: looked up by column name from `information_schema` (or the pipeline's `json:` list).
public enum MariaDBSemanticType: String, Sendable, Equatable {
    case json, uuid, inet6, inet4, bool
}
