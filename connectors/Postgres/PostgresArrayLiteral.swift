/// The text form of PostgreSQL arrays (`{1,2,NULL}`, `{"a b","c\"d"}`, `{{1,2},{3,4}}`), parsed into nested
/// elements and formatted back with the quoting of PostgreSQL's `array_out`.
/// Invariant: `parse(format(e)) == e` for any elements, and `format(parse(t)) == t` for PostgreSQL's own output.
public enum PostgresArrayLiteral {
    /// One array element: SQL NULL, an element's text, or a sub-array (multi-dimensional arrays).
    public indirect enum Element: Sendable, Equatable {
        case null
        case text(String)
        case array([Element])
    }

    /// Why a text is not an array literal: the byte offset and what was expected there.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var message: String

        public var description: String { "invalid array literal at byte \(offset): \(message)" }
    }

    /// The elements of the outermost dimension. Only the `,` delimiter is handled (every mapped type uses it);
    /// a leading dimension decoration (`[0:1]=`) is skipped, so lower bounds are lost.
    public static func parse(_ text: String) throws(ParseError) -> [Element] {
        var p = Parser(bytes: Array(text.utf8))
        p.skipWhitespace()
        if p.current == UInt8(ascii: "[") {
            while let c = p.current, c != UInt8(ascii: "=") { p.i += 1 }
            guard p.current == UInt8(ascii: "=") else { throw p.error("expected '=' after the dimensions") }
            p.i += 1
            p.skipWhitespace()
        }
        guard p.current == UInt8(ascii: "{") else { throw p.error("expected '{'") }
        let elements = try p.list()
        p.skipWhitespace()
        guard p.current == nil else { throw p.error("unexpected text after the closing '}'") }
        return elements
    }

    /// The literal for `elements`, quoting an element only when PostgreSQL would.
    public static func format(_ elements: [Element]) -> String {
        var out = "{"
        for (n, element) in elements.enumerated() {
            if n > 0 { out += "," }
            switch element {
            case .null: out += "NULL"
            case let .array(inner): out += format(inner)
            case let .text(s): out += needsQuotes(s) ? quoted(s) : s
            }
        }
        return out + "}"
    }

    private static func isArraySpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D
    }

    private static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty || s.utf8.count == 4 && s.lowercased() == "null" { return true }
        return s.utf8.contains { c in
            c == UInt8(ascii: "{") || c == UInt8(ascii: "}") || c == UInt8(ascii: ",") || c == UInt8(ascii: "\"")
                || c == UInt8(ascii: "\\") || isArraySpace(c)
        }
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            if ch == "\"" || ch == "\\" { out += "\\" }
            out.unicodeScalars.append(ch)
        }
        return out + "\""
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        var current: UInt8? { i < bytes.count ? bytes[i] : nil }

        func error(_ message: String) -> ParseError { ParseError(offset: i, message: message) }

        mutating func skipWhitespace() {
            while let c = current, PostgresArrayLiteral.isArraySpace(c) { i += 1 }
        }

        /// At `{`: the elements up to the matching `}`.
        mutating func list() throws(ParseError) -> [Element] {
            i += 1
            var elements: [Element] = []
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; return elements }
            while true {
                skipWhitespace()
                switch current {
                case UInt8(ascii: "{"): elements.append(.array(try list()))
                case UInt8(ascii: "\""): elements.append(.text(try quotedElement()))
                default: elements.append(try unquotedElement())
                }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "}"): i += 1; return elements
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func quotedElement() throws(ParseError) -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard let c = current else { throw error("unterminated quoted element") }
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                if c == UInt8(ascii: "\\") {
                    guard let e = current else { throw error("unterminated escape") }
                    out.append(e)
                    i += 1
                } else {
                    out.append(c)
                }
            }
        }

        mutating func unquotedElement() throws(ParseError) -> Element {
            var out: [UInt8] = []
            var keep = 0
            var escaped = false
            while let c = current, c != UInt8(ascii: ","), c != UInt8(ascii: "}") {
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "\"") { throw error("unexpected '\(Character(Unicode.Scalar(c)))'") }
                i += 1
                if c == UInt8(ascii: "\\") {
                    guard let e = current else { throw error("unterminated escape") }
                    out.append(e)
                    i += 1
                    keep = out.count
                    escaped = true
                } else {
                    out.append(c)
                    if !PostgresArrayLiteral.isArraySpace(c) { keep = out.count }
                }
            }
            out.removeSubrange(keep...)
            guard !out.isEmpty else { throw error("empty unquoted element") }
            let text = String(decoding: out, as: UTF8.self)
            if !escaped && out.count == 4 && text.lowercased() == "null" { return .null }
            return .text(text)
        }
    }
}
