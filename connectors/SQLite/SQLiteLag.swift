import DeltaConnector
import SQLiteSupport

extension SQLiteSource: LagReporting {
    /// Head = the greatest change-log seq; `eventsBehind` = change-log rows of `collections` (all
    /// rows when empty) after `position` (after the start when nil). Before the change log is
    /// installed the head is "0" and nothing is behind.
    public func lag(of collections: [CollectionSpec], after position: String?) async throws -> SourceLag {
        let (connection, path) = (self.connection, self.path)
        let applied = position.flatMap { Int64($0) }
        let tables = SQLiteChangeLog.jsonList(collections.map(\.name))
        let all = collections.isEmpty
        return try await withBusyRetry(path: path, doing: "measuring lag") { [worker] in
            try await worker.run {
                do {
                    let db = try connection.open()
                    guard try SQLiteChangeLog.exists(db) else { return SourceLag(head: "0", eventsBehind: 0) }
                    let head = try SQLiteChangeLog.head(db)
                    guard position == nil || applied != nil else { return SourceLag(head: String(head)) }
                    let s = try connection.statement(
                        "SELECT count(*) FROM _deltabridge_changes WHERE seq > ?1 AND (?3 OR tbl IN (SELECT value FROM json_each(?2)))")
                    defer { s.reset() }
                    try s.bind([.int(applied ?? 0), .text(tables), .int(all ? 1 : 0)])
                    _ = try s.step()
                    return SourceLag(head: String(head), eventsBehind: s.int64(0))
                } catch let error as SQLiteError where !error.isTransient {
                    throw SQLiteErrors.map(error, path: path, doing: "measuring lag")
                }
            }
        }
    }
}
