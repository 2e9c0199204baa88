import DeltaConnector

/// Turns transport failures and CouchDB's HTTP errors into one-line ``ConnectorError``s that
/// name the store, what was being done and the fix.
///
/// Invariant: unreachable servers, 5xx and timeouts are transient (retried); refused credentials,
/// missing privileges and missing databases are permanent (the user must act).
enum CouchDBErrors {
    static func transport(_ error: CouchDBTransportError, server: CouchDBServer, label: String = "CouchDB", doing: String) -> ConnectorError {
        ConnectorError(.transient, "\(label): cannot reach \(server.baseURL) while \(doing) (\(error.message)) — start the server or fix 'url'")
    }

    static func http(_ r: CouchDBResponse, server: CouchDBServer, label: String = "CouchDB", doing: String, database: String? = nil) -> ConnectorError {
        let db = database.map { " database '\($0)'" } ?? ""
        switch r.status {
        case 401:
            let who = server.user.map { "user '\($0)'" } ?? "anonymous access"
            return ConnectorError(.permanent, "\(label): \(server.baseURL) refused \(who) while \(doing) (401 \(r.errorText)) — fix the user and password in the store's 'url' (or 'user'/'password')")
        case 403:
            if r.errorText.contains("locked") {
                return ConnectorError(.permanent, "\(label): \(server.baseURL) locked the account after failed logins while \(doing) (403 \(r.errorText)) — fix the password and wait a few minutes")
            }
            return ConnectorError(.permanent, "\(label): the user lacks permission on\(db) while \(doing) (403 \(r.errorText)) — add the user to the database's _security members (or admins), or use another account")
        case 404:
            return ConnectorError(.permanent, "\(label):\(db.isEmpty ? " resource" : db) does not exist on \(server.baseURL) while \(doing) (404 \(r.errorText)) — create it, fix the collection name, or set `create: true` on the store")
        case 500...599, 408, 429:
            return ConnectorError(.transient, "\(label): \(server.baseURL) failed while \(doing) (HTTP \(r.status) \(r.errorText)); retrying")
        default:
            return ConnectorError(.permanent, "\(label): \(server.baseURL) answered HTTP \(r.status) while \(doing)\(db.isEmpty ? "" : " on" + db) (\(r.errorText))")
        }
    }
}
