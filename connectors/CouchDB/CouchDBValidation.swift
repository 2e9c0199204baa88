import DeltaConnector
import DeltaCore

/// Checks a CouchDB store up front: the server answers, the credentials are accepted, each
/// mapped database exists (or is created with `create: true`), the key is one attribute, the
/// feed can be read (source) and documents can be written (sink: a `_local` document is written
/// and deleted, which needs the same rights as a document write).
enum CouchDBValidation {
    static func validate(_ client: CouchDBClient, collections: [CollectionSpec], asSource: Bool, asSink: Bool) -> [ValidationProblem] {
        let config = client.config
        var problems = [ValidationProblem]()
        func record(_ error: Error, _ fallback: String) {
            let text = (error as? ConnectorError)?.message ?? "\(error)"
            let parts = text.components(separatedBy: " — ")
            var fix = parts.count > 1 ? parts.dropFirst().joined(separator: " — ") : fallback
            if fix.hasPrefix("fix ") { fix = "correct " + fix.dropFirst(4) }
            problems.append(ValidationProblem(problem: parts[0], fix: fix))
        }
        do {
            try client.send("GET", "/", doing: "connecting")
        } catch {
            record(error, "start the server or fix 'url'")
            return problems
        }
        for spec in collections {
            if spec.keyAttributes.count != 1 {
                problems.append(ValidationProblem(problem: "\(config.label): collection '\(spec.name)' has a composite key (\(spec.keyAttributes.joined(separator: ", "))); a CouchDB document has one _id",
                                                  fix: "map the key to one attribute, e.g. `key: _id`"))
                continue
            }
            do {
                _ = try client.requireDatabase(spec.name)
                if asSource {
                    _ = try client.pending(spec.name, since: "now")
                }
                if asSink {
                    let path = CouchDBStoreConfig.path(spec.name, "_local/deltabridge-validate-\(config.store.name)")
                    let r = try client.send("PUT", path, body: .object(["checked": .bool(true)]), doing: "checking write permission on '\(spec.name)'",
                                            database: spec.name)
                    let rev = r.json.objectValue?["rev"]?.stringValue ?? "0-1"
                    try client.send("DELETE", path + CouchDBStoreConfig.query([("rev", rev)]), doing: "checking write permission on '\(spec.name)'",
                                    database: spec.name, accept: [200, 202, 404])
                }
            } catch {
                record(error, "see the CouchDB documentation for the database's _security")
            }
        }
        return problems
    }
}

extension CouchDBSource: PrerequisiteValidating {
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let client = self.client
        return try await worker.run { CouchDBValidation.validate(client, collections: collections, asSource: asSource, asSink: asSink) }
    }
}

extension CouchDBSink: PrerequisiteValidating {
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let client = state.client
        return try await worker.run { CouchDBValidation.validate(client, collections: collections, asSource: asSource, asSink: asSink) }
    }
}
