import DeltaCore

/// Decodes the row images of a rows event with its table map: the columns-present bitmap(s),
/// then per row a null bitmap over the present columns and the present non-null values.
///
/// Invariant: an image holds exactly the present columns (a MINIMAL/NOBLOB image is partial),
/// keyed by column name (or `@N` when the server sent no names).
enum BinlogRowsDecoder {
    /// One changed row: the before image (UPDATE, DELETE) and the after image (WRITE, UPDATE).
    struct Row: Sendable, Equatable {
        var before: [String: Value]?
        var after: [String: Value]?
    }

    static func decode(_ rows: BinlogEvent.Rows, _ map: BinlogTableMap, semantics: [String: MariaDBSemanticType]) throws(BinlogDecodingError) -> [Row] {
        var r = BinlogByteReader(rows.body)
        let count = try r.count("rows column count")
        guard count <= map.columns.count else {
            throw BinlogDecodingError("rows event of \(map.database).\(map.table) has \(count) columns, its table map \(map.columns.count)")
        }
        let present = try r.bitmap(count, "columns-present bitmap")
        let presentAfter = rows.kind == .update ? try r.bitmap(count, "columns-present bitmap (after image)") : present
        let names = map.columns.indices.map { map.columns[$0].name.isEmpty ? "@\($0 + 1)" : map.columns[$0].name }
        func image(_ present: [Bool]) throws(BinlogDecodingError) -> [String: Value] {
            let indexes = present.indices.filter { present[$0] }
            let nulls = try r.bitmap(indexes.count, "null bitmap")
            var out = [String: Value](minimumCapacity: indexes.count)
            for (n, i) in indexes.enumerated() {
                if nulls[n] {
                    out[names[i]] = .null
                } else {
                    let c = map.columns[i]
                    out[names[i]] = try BinlogValueDecoder.decode(&r, c, semantic: semantics[c.name])
                }
            }
            return out
        }
        var out: [Row] = []
        while !r.isAtEnd {
            switch rows.kind {
            case .write: out.append(Row(before: nil, after: try image(present)))
            case .delete: out.append(Row(before: try image(present), after: nil))
            case .update:
                let before = try image(present)
                out.append(Row(before: before, after: try image(presentAfter)))
            }
        }
        return out
    }
}
