/// Strict RFC 8259 JSON text ↔ ``Value``, shared by every connector that meets JSON (JSON and
/// jsonb columns, JSON text columns, CouchDB documents, change-log images, snapshot cursors).
///
/// Invariants: parsing never traps and never rounds a number; it accepts exactly one value with
/// optional surrounding whitespace and rejects everything RFC 8259 does not allow (comments,
/// trailing commas, leading zeros, raw control characters, lone surrogates);
/// `parse(serialize(v)) == v` up to number kinds (an exact double may come back as the same
/// number in another kind only when it is not representable as written).
public enum JSONCodec {
    /// Why a text is not JSON: the byte offset and what was expected there.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var message: String

        public init(offset: Int, message: String) {
            self.offset = offset
            self.message = message
        }

        public var description: String { "invalid JSON at byte \(offset): \(message)" }
    }

    /// Why a value has no JSON text (a non-finite number; NUL where refused).
    public struct SerializeError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String

        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 512

    /// Parses one JSON text (any value at the top, surrounded by optional whitespace).
    ///
    /// Numbers: integers that fit `Int64` become `.int`; other numbers `.double` when the double's
    /// shortest text denotes exactly the same number, else `.decimal` (so `12345678901234567890` and
    /// `0.1000000000000000000001` stay exact). Duplicate object keys keep the last value.
    /// Nesting deeper than ``maximumDepth`` is an error.
    public static func parse(_ text: String) throws(ParseError) -> Value {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses one JSON text given as UTF-8 bytes (an HTTP body), by the same rules.
    public static func parse(bytes: [UInt8]) throws(ParseError) -> Value {
        var p = Parser(bytes: bytes)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == p.bytes.count else { throw p.error("unexpected text after the JSON value") }
        return v
    }

    /// The `Value` of a JSON number literal (`-12`, `1.5e3`), by the rules above; nil if it is not one.
    public static func number(_ literal: String) -> Value? {
        var p = Parser(bytes: Array(literal.utf8))
        guard let v = try? p.number(), p.i == p.bytes.count else { return nil }
        return v
    }

    /// Compact JSON text of a value, object members sorted by their UTF-8 bytes. JSON has no bytes
    /// or timestamps: `.bytes` become a base64 string and `.timestamp` an ISO-8601 string
    /// (`2024-03-01T12:00:00Z`). Non-finite numbers cannot be held; with `rejectingNUL` (jsonb),
    /// neither can the NUL character.
    public static func serialize(_ value: Value, rejectingNUL: Bool = false) throws(SerializeError) -> String {
        var out = [UInt8]()
        try serialize(value, rejectingNUL: rejectingNUL, appendingTo: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ``serialize(_:rejectingNUL:)`` appending the text's UTF-8 bytes to `out`. On an error,
    /// `out` is left as it was.
    public static func serialize(_ value: Value, rejectingNUL: Bool = false, appendingTo out: inout [UInt8]) throws(SerializeError) {
        let start = out.count
        do {
            try write(value, to: &out, rejectingNUL: rejectingNUL)
        } catch {
            out.removeSubrange(start...)
            throw error
        }
    }

    private static func write(_ value: Value, to out: inout [UInt8], rejectingNUL: Bool) throws(SerializeError) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case let .int(i): out.append(contentsOf: String(i).utf8)
        case let .double(d):
            guard d.isFinite else { throw SerializeError(message: "JSON cannot hold the number \(d)") }
            out.append(contentsOf: "\(d)".utf8)
        case let .decimal(d):
            let start = out.count
            d.appendDescription(to: &out)
            guard let last = out.last, out.count > start, last >= UInt8(ascii: "0"), last <= UInt8(ascii: "9") else {
                let text = String(decoding: out[start...], as: UTF8.self)
                out.removeSubrange(start...)
                throw SerializeError(message: "JSON cannot hold the number \(text)")
            }
        case let .string(s): try quote(s, to: &out, rejectingNUL: rejectingNUL)
        case let .bytes(b): JSONText.quote(Base64.encode(b), into: &out)
        case let .timestamp(t): JSONText.quote(Timestamps.iso8601(micros: t), into: &out)
        case let .array(a):
            out.append(UInt8(ascii: "["))
            for (n, element) in a.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                try write(element, to: &out, rejectingNUL: rejectingNUL)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(o):
            out.append(UInt8(ascii: "{"))
            let keys = o.keys.sorted(by: utf8Less)
            for (n, key) in keys.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                try quote(key, to: &out, rejectingNUL: rejectingNUL)
                out.append(UInt8(ascii: ":"))
                try write(o[key]!, to: &out, rejectingNUL: rejectingNUL)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func quote(_ s: String, to out: inout [UInt8], rejectingNUL: Bool) throws(SerializeError) {
        if rejectingNUL && s.utf8.contains(0) { throw SerializeError(message: "jsonb cannot hold the NUL character (\\u0000)") }
        JSONText.quote(s, into: &out)
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0
        /// Items of the arrays being parsed (innermost last).
        var stack: [Value] = []

        func error(_ message: String) -> ParseError { ParseError(offset: i, message: message) }

        var current: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
        }

        mutating func literal(_ word: String, _ v: Value) throws(ParseError) -> Value {
            let w = word.utf8
            guard bytes.count - i >= w.count, bytes[i..<(i + w.count)].elementsEqual(w) else { throw error("expected \(word)") }
            i += w.count
            return v
        }

        mutating func value(depth: Int) throws(ParseError) -> Value {
            guard let c = current else { throw error("expected a value, found the end") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("expected a value")
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> Value {
            guard depth <= JSONCodec.maximumDepth else { throw error("nested deeper than \(JSONCodec.maximumDepth)") }
            i += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") { i += 1; return .array([]) }
            // Items gather on the parser's shared stack, so that each array is allocated once,
            // at its final size.
            let base = stack.count
            defer { stack.removeSubrange(base...) }
            while true {
                skipWhitespace()
                let item = try value(depth: depth)
                stack.append(item)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "]"): i += 1; return .array(Array(stack[base...]))
                default: throw error("expected ',' or ']'")
                }
            }
        }

        mutating func object(depth: Int) throws(ParseError) -> Value {
            guard depth <= JSONCodec.maximumDepth else { throw error("nested deeper than \(JSONCodec.maximumDepth)") }
            i += 1
            var members: [String: Value] = [:]
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipWhitespace()
                members[key] = try value(depth: depth)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "}"): i += 1; return .object(members)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard bytes.count - i >= 4 else { throw error("expected 4 hex digits") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw error("expected a hex digit")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func string() throws(ParseError) -> String {
            i += 1
            // Without escapes (the usual case) the string is its bytes as they stand.
            var end = i
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                let text = String(decoding: bytes[i..<end], as: UTF8.self)
                i = end + 1
                return text
            }
            var out: [UInt8] = []
            while true {
                guard let c = current else { throw error("unterminated string") }
                switch c {
                case UInt8(ascii: "\""):
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    i += 1
                    guard let e = current else { throw error("unterminated escape") }
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            guard bytes.count - i >= 2, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                                throw error("unpaired UTF-16 surrogate")
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired UTF-16 surrogate") }
                            code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw error("unpaired UTF-16 surrogate")
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point") }
                        out.append(contentsOf: Array(String(scalar).utf8))
                    default:
                        i -= 1
                        throw error("invalid escape")
                    }
                case 0..<0x20:
                    throw error("control character in string")
                default:
                    out.append(c)
                    i += 1
                }
            }
        }

        mutating func digits() -> Int {
            let start = i
            while let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { i += 1 }
            return i - start
        }

        mutating func number() throws(ParseError) -> Value {
            let start = i
            if current == UInt8(ascii: "-") { i += 1 }
            if current == UInt8(ascii: "0") {
                i += 1
            } else {
                guard digits() > 0 else { throw error("expected a digit") }
            }
            var integral = true
            if current == UInt8(ascii: ".") {
                i += 1
                integral = false
                guard digits() > 0 else { throw error("expected a digit after '.'") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                i += 1
                integral = false
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { throw error("expected an exponent") }
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if integral, let n = Int64(text) { return .int(n) }
            guard let exact = ExactDecimal(text) else { throw error("number out of range") }
            if let d = Double(text), d.isFinite, ExactDecimal(d.description) == exact {
                return .double(d)
            }
            return .decimal(exact)
        }
    }
}
