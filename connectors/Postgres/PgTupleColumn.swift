/// One column of a pgoutput row image: null, an unchanged TOASTed value that was not sent, or the value in
/// PostgreSQL's text (or, with the `binary` option, binary) format.
///
/// Invariant: `.unchangedToast` means "same as before, value unknown here", never null.
public enum PgTupleColumn: Sendable, Equatable {
    /// `n`
    case null
    /// `u`: a TOASTed value the update did not change; pgoutput does not send it.
    case unchangedToast
    /// `t`: the value's text output in the database encoding.
    case text([UInt8])
    /// `b`: the value's binary send format (only with the `binary` option).
    case binary([UInt8])

    /// The text of a `.text` column as a String (invalid UTF-8 becomes U+FFFD); nil for other kinds.
    public var text: String? {
        if case let .text(bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }
}
