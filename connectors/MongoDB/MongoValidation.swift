import DeltaConnector

extension MongoSource: PrerequisiteValidating {
    /// Checks the connection and credentials, that the server is a replica set member (change
    /// streams need one), the keys, the privileges, and that the oplog window covers `max_downtime`.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let config = self.config
        return try await worker.run { MongoValidation.problems(config, collections, asSource: asSource, asSink: asSink) }
    }
}

extension MongoSink: PrerequisiteValidating {
    /// Checks the connection, credentials, keys and write privileges.
    public func validate(collections: [CollectionSpec], asSource: Bool, asSink: Bool) async throws -> [ValidationProblem] {
        let config = self.config
        return try await worker.run { MongoValidation.problems(config, collections, asSource: asSource, asSink: asSink) }
    }
}

/// The prerequisite checks of a MongoDB store, shared by source and sink. Read-only.
enum MongoValidation {
    static func problems(_ config: MongoStoreConfig, _ collections: [CollectionSpec], asSource: Bool, asSink: Bool) -> [ValidationProblem] {
        let conn: MongoConnection
        do {
            conn = try MongoConnection.connect(config)
        } catch {
            return [ValidationProblem(problem: "\(error)", fix: "check `url` (host, port, user, password, authSource) and that the server is running")]
        }
        defer { conn.close() }
        var out: [ValidationProblem] = []
        let label = config.label
        for c in collections where c.keyAttributes != ["_id"] {
            out.append(ValidationProblem(problem: "\(label): collection '\(c.name)' is keyed on \(c.keyAttributes.joined(separator: ", ")), but MongoDB identifies documents (and change events) by _id",
                                         fix: "use `key: _id` for the MongoDB side (and `rename` it for the other stores)"))
        }
        guard let hello = try? conn.command(BSONDocument([("hello", .int32(1))]), database: "admin") else {
            out.append(ValidationProblem(problem: "\(label): the server did not answer `hello`", fix: "check that `url` points at a MongoDB server"))
            return out
        }
        if asSource {
            let isReplicaSet = hello["setName"] != nil
            if !isReplicaSet {
                let isMongos = hello["msg"] == .string("isdbgrid")
                if !isMongos {
                    out.append(ValidationProblem(problem: "\(label): the server is not a replica set member, and change streams need one",
                                                 fix: "start mongod with --replSet rs0 and run rs.initiate() (a single-node replica set will do)"))
                }
            }
        }
        // Privileges: what the user is allowed, from connectionStatus (nothing to check when auth is
        // off, or when the server lists no privileges).
        if let status = try? conn.command(BSONDocument([("connectionStatus", .int32(1)), ("showPrivileges", .bool(true))]), database: "admin"),
           case let .document(auth)? = status["authInfo"], case let .array(users)? = auth["authenticatedUsers"], !users.isEmpty,
           case let .array(privileges)? = auth["authenticatedUserPrivileges"], !privileges.isEmpty {
            let actions = grantedActions(privileges, database: config.database)
            var needed: [String] = []
            if asSource { needed += ["find", "changeStream"] }
            if asSink { needed += ["insert", "update", "remove", "find"] }
            let missing = Array(Set(needed.filter { !actions.contains($0) })).sorted()
            if !missing.isEmpty {
                out.append(ValidationProblem(problem: "\(label): the user lacks \(missing.joined(separator: ", ")) on database '\(config.database)'",
                                             fix: "grant it the role \(asSink ? "readWrite" : "read") on '\(config.database)' (db.grantRolesToUser(\"user\", [{role: \"\(asSink ? "readWrite" : "read")\", db: \"\(config.database)\"}]))"))
            }
        }
        if asSource {
            // Oplog window: the oldest entry must be older than the longest downtime allowed.
            let first = try? conn.command(BSONDocument([("find", .string("oplog.rs")), ("sort", .document(BSONDocument([("$natural", .int32(1))]))),
                                                        ("limit", .int32(1)), ("singleBatch", .bool(true))]), database: "local")
            if let first, case let .document(c)? = first["cursor"], case let .array(batch)? = c["firstBatch"],
               case let .document(entry)? = batch.first, case let .timestamp(oldest, _)? = entry["ts"],
               let now = try? conn.operationTime() {
                let window = Int64(now.seconds) - Int64(oldest)
                let uptime = serverUptime(conn)
                // A young oplog that has not wrapped yet says nothing about its window.
                if window < config.maxDowntimeSeconds && (uptime ?? 0) > window + 60 {
                    out.append(ValidationProblem(problem: "\(label): the oplog covers only \(window) s, less than max_downtime (\(config.maxDowntimeSeconds) s): a bridge stopped longer than that needs a resync",
                                                 fix: "enlarge the oplog (replSetResizeOplog with size or minRetentionHours), or lower `max_downtime`"))
                }
            }
        }
        return out
    }

    private static func serverUptime(_ conn: MongoConnection) -> Int64? {
        guard let status = try? conn.command(BSONDocument([("serverStatus", .int32(1))]), database: "admin") else { return nil }
        switch status["uptime"] {
        case let .double(d)?: return Int64(d)
        case let .int32(i)?: return Int64(i)
        case let .int64(i)?: return i
        default: return nil
        }
    }

    /// The actions granted on `database` (or on any database / the cluster).
    private static func grantedActions(_ privileges: [BSONValue], database: String) -> Set<String> {
        var out = Set<String>()
        for case let .document(p) in privileges {
            guard case let .document(resource)? = p["resource"], case let .array(actions)? = p["actions"] else { continue }
            var applies = resource["anyResource"] == .bool(true)
            if case let .string(db)? = resource["db"], db == database || db.isEmpty { applies = true }
            guard applies else { continue }
            for case let .string(a) in actions { out.insert(a) }
        }
        return out
    }
}
