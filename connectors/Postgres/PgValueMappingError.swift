/// A value that a PostgreSQL column cannot hold, with a one-line reason naming the value kind and column
/// type, e.g. `a string cannot be stored in an int4 column`.
///
/// Invariant: `reason` is a single line (no newline), suitable for a dead-letter entry.
public struct PgValueMappingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
