import DeltaCore

/// A strict JSON (RFC 8259) reader and writer over ``Value`` for CouchDB's request and response
/// bodies (copied from the SQLite connector's reader, which is internal to that module, and
/// extended to parse bytes directly).
///
/// Invariants: the parser accepts exactly one JSON value (surrounding whitespace allowed) and
/// rejects everything RFC 8259 does not allow (comments, trailing commas, lone surrogates, raw
/// control characters, leading zeros); `parse(serialize(v)) == v` for every value made of null,
/// bool, int, finite double, string, array and object.
enum CouchDBJSON {
    /// Why a text is not JSON, with the byte offset of the problem.
    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Why a value has no JSON form (NaN, infinities).
    struct SerializeError: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    /// Nesting deeper than this is refused (protects the stack).
    static let maximumDepth = 512

    // MARK: Parsing

    /// Parses one JSON value. Integers that fit `Int64` become `.int`, larger ones `.decimal`;
    /// numbers with a fraction or exponent become `.double` (`.decimal` when out of double range).
    static func parse(_ text: String) throws(ParseError) -> Value {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses one JSON value from UTF-8 bytes (an HTTP body or one line of a feed).
    static func parse(bytes: [UInt8]) throws(ParseError) -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected text after the value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func error(_ reason: String) -> ParseError { ParseError(offset: index, reason: reason) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(ParseError) -> Value {
            guard depth <= CouchDBJSON.maximumDepth else { throw error("nested too deeply") }
            guard index < bytes.count else { throw error("unexpected end of text") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected character")
            }
        }

        mutating func literal(_ word: String) throws(ParseError) {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                throw error("unexpected character")
            }
            index += expected.count
        }

        mutating func parseObject(depth: Int) throws(ParseError) -> Value {
            index += 1
            var members: [String: Value] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let name = try parseString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
                members[name] = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of text") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws(ParseError) -> Value {
            index += 1
            var elements: [Value] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of text") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw error("expected ',' or ']'")
            }
        }

        mutating func parseString() throws(ParseError) -> String {
            index += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else { throw error("unterminated string") }
                let c = bytes[index]
                switch c {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw error("unterminated escape") }
                    let e = bytes[index]
                    index += 1
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
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("lone high surrogate")
                            }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("lone low surrogate")
                        }
                        out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                    default:
                        throw error("invalid escape")
                    }
                default:
                    guard c >= 0x20 else { throw error("control character in string") }
                    out.append(c)
                    index += 1
                }
            }
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        mutating func parseNumber() throws(ParseError) -> Value {
            let start = index
            func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") }
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard isDigit(index) else { throw error("expected a digit") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if isDigit(index) { throw error("leading zero") }
            } else {
                while isDigit(index) { index += 1 }
            }
            var integral = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard isDigit(index) else { throw error("expected a digit after '.'") }
                while isDigit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                integral = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard isDigit(index) else { throw error("expected a digit in the exponent") }
                while isDigit(index) { index += 1 }
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if integral, let i = Int64(text) { return .int(i) }
            if !integral, let d = Double(text), d.isFinite { return .double(d) }
            guard let decimal = ExactDecimal(text) else { throw ParseError(offset: start, reason: "unreadable number") }
            return .decimal(decimal)
        }
    }

    // MARK: Serialising

    /// Compact JSON text for `value`; object members sorted by their UTF-8 bytes. Bytes become
    /// base64 strings, timestamps ISO 8601 strings, decimals JSON numbers. NaN and infinities throw.
    static func serialize(_ value: Value) throws(SerializeError) -> String {
        var out = ""
        try write(value, into: &out)
        return out
    }

    private static func write(_ value: Value, into out: inout String) throws(SerializeError) {
        switch value {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d):
            guard d.isFinite else { throw SerializeError(reason: "JSON cannot hold the double \(d)") }
            out += "\(d)"
        case let .decimal(d):
            let text = d.description
            guard let last = text.utf8.last, last >= UInt8(ascii: "0"), last <= UInt8(ascii: "9") else {
                throw SerializeError(reason: "JSON cannot hold the decimal \(text)")
            }
            out += text
        case let .string(s): quote(s, into: &out)
        case let .bytes(b): quote(Base64.encode(b), into: &out)
        case let .timestamp(t): quote(Timestamps.iso8601(micros: t), into: &out)
        case let .array(a):
            out += "["
            for (i, element) in a.enumerated() {
                if i > 0 { out += "," }
                try write(element, into: &out)
            }
            out += "]"
        case let .object(o):
            out += "{"
            let keys = o.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                quote(key, into: &out)
                out += ":"
                try write(o[key]!, into: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal.
    static func quote(_ s: String, into out: inout String) {
        JSONText.quote(s, into: &out)
    }
}
