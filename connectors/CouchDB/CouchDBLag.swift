import DeltaConnector

extension CouchDBSource: LagReporting {
    /// Head = each database's `update_seq` (the seq itself for one database, else a JSON object
    /// like the position); events behind = the sum of `pending` after the applied position's
    /// seqs (nil when nothing was applied yet).
    public func lag(of collections: [CollectionSpec], after position: String?) async throws -> SourceLag {
        let (client, store) = (self.client, self.store)
        return try await worker.run {
            var head = CouchDBPosition()
            for c in collections { head.seqs[c.name] = try client.updateSeq(c.name) }
            let headText = collections.count == 1 ? head.seq(collections[0].name) : head.text
            guard let position, !position.isEmpty else { return SourceLag(head: headText) }
            let applied = try CouchDBPosition(position, store: store.name)
            var behind: Int64 = 0
            for c in collections { behind += try client.pending(c.name, since: applied.seq(c.name)) }
            return SourceLag(head: headText, eventsBehind: behind)
        }
    }
}
