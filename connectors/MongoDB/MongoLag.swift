import DeltaConnector

extension MongoSource: LagReporting {
    /// Head = the server's latest cluster time (`operationTime`); events behind = oplog entries
    /// after the applied position's cluster time in the mapped collections (counted in
    /// `local.oplog.rs`; nil when the user may not read it).
    public func lag(of collections: [CollectionSpec], after position: String?) async throws -> SourceLag {
        let admin = self.admin
        let database = config.database
        return try await worker.run {
            try admin.with("measuring lag") { conn throws(MongoServerError) in
                let head = try conn.operationTime()
                let headText = MongoPosition.operationTime(head).description
                guard let position, let applied = MongoPosition(position) else { return SourceLag(head: headText) }
                let namespaces = collections.map { BSONValue.string(database + "." + $0.name) }
                let filter = BSONDocument([("ts", .document(BSONDocument([("$gt", .timestamp(seconds: applied.time.seconds, increment: applied.time.increment))]))),
                                           ("ns", .document(BSONDocument([("$in", .array(namespaces))])))])
                let reply = try? conn.command(BSONDocument([("count", .string("oplog.rs")), ("query", .document(filter))]), database: "local")
                let events = MongoSinkState.int(reply?["n"]).map(Int64.init)
                return SourceLag(head: headText, eventsBehind: events)
            }
        }
    }
}
