import DeltaCore
import SQLiteSupport

/// How the SQLite ledger stores a document key: as an INTEGER when its canonical text is an
/// integer's own decimal form, as TEXT otherwise.
///
/// The rule is a bijection on canonical texts (SQLite reads the integer back as the same text), so
/// a document's identity is still its ``DeltaCore/DocumentKey/canonical`` text. What it changes is
/// order: integer keys sort numerically, so rows written in key order (a table's 1, 2, 3 …) sit on
/// neighbouring B-tree pages instead of being spread like the texts "1", "10", "100" ….
enum SQLiteLedgerKey {
    /// The integer `utf8` spells, when it is one's own decimal form: an optional `-`, then `0` or
    /// digits without a leading zero, within Int64 (`-0`, `007`, `+7`, `1e3` and ` 7` stay text).
    static func integer(_ utf8: UnsafeBufferPointer<UInt8>) -> Int64? {
        let count = utf8.count
        guard count > 0 else { return nil }
        let negative = utf8[0] == UInt8(ascii: "-")
        var i = negative ? 1 : 0
        let digits = count - i
        guard digits >= 1, digits <= 19 else { return nil }
        guard utf8[i] != UInt8(ascii: "0") || (digits == 1 && !negative) else { return nil }
        var value: Int64 = 0
        while i < count {
            let digit = utf8[i] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            // Accumulated with the sign applied, so Int64.min is reachable.
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = next
            i += 1
        }
        return value
    }

    /// ``integer(_:)`` of a canonical key text.
    static func integer(_ canonical: String) -> Int64? {
        var text = canonical
        return text.withUTF8 { integer($0) }
    }

    /// The value to bind for `key` in a `key` column (`integerKeys` false: a ledger older than
    /// schema 3, where every key is text).
    static func binding(_ key: DocumentKey, integerKeys: Bool) -> SQLiteStatement.Binding {
        if integerKeys, let number = integer(key.canonical) { return .int(number) }
        return .text(key.canonical)
    }

    /// Binds a key's canonical text at `index`: an integer by value, other text in place (the
    /// rule of ``SQLiteSupport/SQLiteStatement/bindInPlace(_:textBytes:)`` applies to `utf8`).
    static func bindInPlace(_ statement: SQLiteStatement, _ index: Int32, _ utf8: UnsafeBufferPointer<UInt8>, integerKeys: Bool) throws {
        if integerKeys, let number = integer(utf8) {
            try statement.bind(index, number)
        } else {
            try statement.bindInPlace(index, textBytes: utf8)
        }
    }

    /// ``integer(_:)`` as an SQL expression over a TEXT `column`, for rewriting ledgers that stored
    /// every key as text: the integer where the rule gives one, the text unchanged otherwise.
    static func sqlStoredForm(of column: String) -> String {
        let c = column
        let unsignedDigits = "NOT substr(\(c), 2) GLOB '*[^0-9]*'"
        let negativeDigits = "NOT substr(\(c), 3) GLOB '*[^0-9]*'"
        return """
            CASE WHEN \(c) = '0'
                OR (\(c) GLOB '[1-9]*' AND \(unsignedDigits)
                    AND (length(\(c)) < 19 OR (length(\(c)) = 19 AND \(c) <= '9223372036854775807')))
                OR (\(c) GLOB '-[1-9]*' AND \(negativeDigits)
                    AND (length(\(c)) < 20 OR (length(\(c)) = 20 AND \(c) <= '-9223372036854775808')))
            THEN CAST(\(c) AS INTEGER) ELSE \(c) END
            """
    }
}
