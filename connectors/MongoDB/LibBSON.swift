import CMongoC

/// Moves documents between Swift's ``BSONDocument`` and libbson's `bson_t` (which Swift sees as an
/// opaque pointer because it is 128-byte aligned).
///
/// Invariant: ``withBSON(_:_:)`` destroys the `bson_t` it made before returning.
enum LibBSON {
    /// Runs `body` with a heap `bson_t` holding `document`.
    static func withBSON<T>(_ document: BSONDocument, _ body: (OpaquePointer) throws -> T) rethrows -> T {
        let bytes = BSONWriter.bytes(document)
        let handle: OpaquePointer = bytes.withUnsafeBufferPointer { bson_new_from_data($0.baseAddress, $0.count) }!
        defer { bson_destroy(handle) }
        return try body(handle)
    }

    /// The bytes of a `bson_t`.
    static func bytes(_ bson: OpaquePointer) -> [UInt8] {
        let length = Int(deltabridge_bson_len(bson))
        guard let data = bson_get_data(bson) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    /// Decodes a `bson_t` (an empty document when it cannot be read, which libbson never produces).
    static func document(_ bson: OpaquePointer) throws -> BSONDocument {
        let length = Int(deltabridge_bson_len(bson))
        guard let data = bson_get_data(bson) else { return BSONDocument() }
        return try BSONReader.document(UnsafeRawBufferPointer(start: data, count: length))
    }

    /// Decimal128 as exact decimal text (`1.50`, `-Infinity`, `NaN`).
    static func decimalText(low: UInt64, high: UInt64) -> String {
        var d = bson_decimal128_t(low: low, high: high)
        var buffer = [CChar](repeating: 0, count: 64)
        buffer.withUnsafeMutableBufferPointer { bson_decimal128_to_string(&d, $0.baseAddress) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decimal text as Decimal128; nil when it has more than 34 significant digits or is out of range.
    static func decimal128(_ text: String) -> (low: UInt64, high: UInt64)? {
        var d = bson_decimal128_t()
        guard bson_decimal128_from_string(text, &d) else { return nil }
        // libbson rounds nothing but turns what it cannot hold into NaN: only a real NaN may be NaN.
        let back = decimalText(low: d.low, high: d.high)
        if back == "NaN" && text.lowercased() != "nan" { return nil }
        return (d.low, d.high)
    }
}
