/// A row image in a pgoutput Insert, Update or Delete (`TupleData`): one entry per column of the relation.
///
/// Invariant: `columns` is in the column order of the Relation message with the same relation id; an old key
/// image (`K`) has every column, with `.null` for those that are not part of the replica identity.
public struct PgTupleData: Sendable, Equatable {
    public var columns: [PgTupleColumn]

    public init(columns: [PgTupleColumn]) {
        self.columns = columns
    }

    /// Pairs each column with its Relation column (nil when the counts differ: a stale relation cache).
    public func named(by relation: PgOutputMessage.Relation) -> [(column: PgOutputMessage.Relation.Column, value: PgTupleColumn)]? {
        guard relation.columns.count == columns.count else { return nil }
        return Array(zip(relation.columns, columns)).map { (column: $0.0, value: $0.1) }
    }
}
