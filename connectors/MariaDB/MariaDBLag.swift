import DeltaConnector

extension MariaDBSource: LagReporting {
    /// Head = `@@gtid_binlog_pos`; events behind = transactions between the applied GTID state
    /// and the head, summed over replication domains (they include other tables' transactions).
    public func lag(of collections: [CollectionSpec], after position: String?) async throws -> SourceLag {
        let admin = self.admin
        return try await worker.run {
            try admin.with("measuring lag") { conn throws(MariaDBServerError) in
                let head = MariaDBGTIDPosition(try conn.scalar("SELECT @@global.gtid_binlog_pos") ?? "") ?? MariaDBGTIDPosition()
                guard let position, let applied = MariaDBGTIDPosition(position) else { return SourceLag(head: head.description) }
                return SourceLag(head: head.description, eventsBehind: applied.transactionsBehind(head))
            }
        }
    }
}
