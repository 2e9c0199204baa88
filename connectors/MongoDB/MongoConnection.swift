import CMongoC
import DeltaCore
import DeltaConnector

/// One libmongoc client (a single-threaded `mongoc_client_t`) and the commands the connector runs
/// with it: every command is a ``BSONDocument`` in and out.
///
/// Server selection gives up after 5 s unless the URL sets `serverSelectionTimeoutMS`, so an
/// unreachable server is reported promptly. Invariant: used from one thread at a time (the owning
/// ``BlockingWorker``); closed exactly once.
final class MongoConnection: @unchecked Sendable {
    let config: MongoStoreConfig
    private var client: OpaquePointer?

    private init(config: MongoStoreConfig, client: OpaquePointer) {
        self.config = config
        self.client = client
    }

    deinit { close() }

    /// Opens a client and checks that the server answers (`ping`), so bad URLs, an unreachable
    /// server and wrong credentials fail here with a clear message.
    static func connect(_ config: MongoStoreConfig) throws -> MongoConnection {
        MongoClientLibrary.initialize()
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(config.url, &error) else {
            throw ConnectorError(.permanent, "\(config.label): 'url' is not a valid MongoDB connection string (\(String(cString: deltabridge_error_message(&error)))) — fix `url`")
        }
        defer { mongoc_uri_destroy(uri) }
        if !mongoc_uri_has_option(uri, "serverselectiontimeoutms") {
            _ = mongoc_uri_set_option_as_int32(uri, "serverselectiontimeoutms", 5000)
        }
        if !mongoc_uri_has_option(uri, "connecttimeoutms") {
            _ = mongoc_uri_set_option_as_int32(uri, "connecttimeoutms", 5000)
        }
        guard let client = mongoc_client_new_from_uri_with_error(uri, &error) else {
            throw ConnectorError(.permanent, "\(config.label): cannot create a client (\(String(cString: deltabridge_error_message(&error)))) — fix `url`")
        }
        _ = mongoc_client_set_error_api(client, 2)
        _ = mongoc_client_set_appname(client, "deltabridge")
        let connection = MongoConnection(config: config, client: client)
        do {
            _ = try connection.command(BSONDocument([("ping", .int32(1))]), database: "admin")
        } catch {
            throw connection.mapped(error, doing: "connecting")
        }
        return connection
    }

    func close() {
        if let client { mongoc_client_destroy(client) }
        client = nil
    }

    var handle: OpaquePointer {
        get throws(MongoServerError) {
            guard let client else { throw MongoServerError(domain: MongoServerError.clientDomain, code: 0, message: "the connection is closed") }
            return client
        }
    }

    /// Runs a command; a reply with `ok: 0` throws with the server's message and code.
    func command(_ command: BSONDocument, database: String? = nil) throws(MongoServerError) -> BSONDocument {
        let client = try handle
        var error = bson_error_t()
        var reply: OpaquePointer?
        let ok = LibBSON.withBSON(command) { deltabridge_command(client, database ?? config.database, $0, &reply, &error) }
        var document: BSONDocument?
        if let reply {
            document = try? LibBSON.document(reply)
            bson_destroy(reply)
        }
        guard ok else {
            throw MongoServerError(domain: error.domain, code: error.code, message: String(cString: deltabridge_error_message(&error)), reply: document)
        }
        return document ?? BSONDocument()
    }

    /// The cluster time of the last operation the server has seen (`operationTime` of a ping).
    func operationTime() throws(MongoServerError) -> MongoClusterTime {
        let reply = try command(BSONDocument([("ping", .int32(1))]), database: "admin")
        if case let .timestamp(t, i)? = reply["operationTime"] { return MongoClusterTime(seconds: t, increment: i) }
        if case let .document(ct)? = reply["$clusterTime"], case let .timestamp(t, i)? = ct["clusterTime"] {
            return MongoClusterTime(seconds: t, increment: i)
        }
        let hello = try command(BSONDocument([("hello", .int32(1))]), database: "admin")
        if case let .document(lw)? = hello["lastWrite"], case let .document(op)? = lw["opTime"], case let .timestamp(t, i)? = op["ts"] {
            return MongoClusterTime(seconds: t, increment: i)
        }
        throw MongoServerError(domain: 0, code: 0, message: "the server reports no cluster time: it is not a replica set member (change streams need a replica set)")
    }

    /// A connector error for a failed operation: transient for connection problems, permanent
    /// with the fix for credentials and privileges.
    func mapped(_ error: MongoServerError, doing: String) -> ConnectorError {
        MongoConnection.mapped(error, config, doing: doing)
    }

    static func mapped(_ error: MongoServerError, _ config: MongoStoreConfig, doing: String) -> ConnectorError {
        if error.isAuthentication {
            return ConnectorError(.permanent, "\(config.label): authentication failed while \(doing) (\(error.message)) — check the user and password in `url` (and `authSource`)")
        }
        if error.isUnauthorized {
            return ConnectorError(.permanent, "\(config.label): the user lacks a privilege needed for \(doing) (\(error.message)) — grant it the roles `read` (source: plus `changeStream` and `find` on the collections) and `readWrite` (sink) on database '\(config.database)', and `clusterMonitor` for lag")
        }
        if error.isHistoryLost {
            return config.positionLost("the oplog no longer holds the saved resume point (\(error.message))")
        }
        if error.isConnectionProblem {
            return ConnectorError(.transient, "\(config.label): cannot reach the server while \(doing) (\(error.message)) — check that it runs and that `url` names the right host and port")
        }
        return ConnectorError(.transient, "\(config.label): \(doing) failed: \(error.message)")
    }
}
