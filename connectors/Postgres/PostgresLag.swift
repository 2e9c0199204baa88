import DeltaConnector

extension PostgresSource: LagReporting {
    /// Head = `pg_current_wal_lsn()`; `bytesBehind` = WAL bytes between `position` (or, when nil,
    /// the slot's confirmed position) and the head. Events behind are not counted (nil): WAL
    /// bytes include other tables and databases.
    public func lag(of collections: [CollectionSpec], after position: String?) async throws -> SourceLag {
        let (admin, slot) = (self.admin, config.slot)
        return try await worker.run {
            try admin.with("measuring lag") { conn throws(PostgresServerError) in
                let head = try conn.exec("SELECT pg_current_wal_lsn()").value(0, 0).flatMap { LSN($0) } ?? .invalid
                var applied = position.flatMap { PostgresPosition($0)?.lsn }
                if applied == nil { applied = try PostgresAdmin.slot(conn, slot)?.confirmedFlush }
                guard let applied else { return SourceLag(head: head.description) }
                let behind = head.value >= applied.value ? Int64(clamping: head.value - applied.value) : 0
                return SourceLag(head: head.description, bytesBehind: behind)
            }
        }
    }
}
