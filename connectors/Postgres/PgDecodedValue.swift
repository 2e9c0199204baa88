import DeltaCore

/// A column value decoded from PostgreSQL text, and whether it is only a fallback: the raw text as `.string`
/// because the type is unknown (enum, domain, inet, ...) or the text did not parse as its type.
///
/// Invariant: when `isFallback` is true, `value` is `.string` holding the server's text unchanged.
public struct PgDecodedValue: Sendable, Equatable {
    public var value: Value
    /// True when the type was not mapped: the source should warn once per column.
    public var isFallback: Bool

    public init(_ value: Value, isFallback: Bool = false) {
        self.value = value
        self.isFallback = isFallback
    }
}
