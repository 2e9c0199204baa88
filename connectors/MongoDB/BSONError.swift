/// Bytes that are not a well-formed BSON document, with the offset where decoding stopped.
///
/// Invariant: `offset` is within (or just past) the decoded buffer.
public struct BSONError: Error, Sendable, CustomStringConvertible, Equatable {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "malformed BSON at byte \(offset): \(reason)" }
}
