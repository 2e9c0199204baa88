/// A parsed `mysql://user:password@host:port/database` (or `mariadb://`) connection URL.
///
/// Invariant: `host` is non-empty; user and password are percent-decoded; `port` defaults to 3306.
public struct MariaDBURL: Sendable, Equatable {
    public var user: String
    public var password: String?
    public var host: String
    public var port: UInt32
    /// The default database of the connection; nil when the URL names none.
    public var database: String?

    public init(user: String, password: String?, host: String, port: UInt32, database: String?) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
    }

    /// Parses the URL, or returns why it is not one (for a one-line error).
    public static func parse(_ text: String) -> Result<MariaDBURL, MariaDBURLError> {
        var rest = Substring(text)
        guard let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") else { return .failure(MariaDBURLError("it does not start with mysql://")) }
        let name = rest[..<colon].lowercased()
        guard name == "mysql" || name == "mariadb" else { return .failure(MariaDBURLError("scheme '\(name)' is not mysql:// or mariadb://")) }
        rest = rest[rest.index(colon, offsetBy: 3)...]
        if let q = rest.firstIndex(of: "?") {
            guard rest[rest.index(after: q)...].isEmpty else { return .failure(MariaDBURLError("query parameters are not supported")) }
            rest = rest[..<q]
        }
        var database: String?
        if let slash = rest.firstIndex(of: "/") {
            let db = String(rest[rest.index(after: slash)...])
            database = db.isEmpty ? nil : decode(db)
            rest = rest[..<slash]
        }
        var user = "root"
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = decode(String(credentials[..<colon]))
                password = decode(String(credentials[credentials.index(after: colon)...]))
            } else {
                user = decode(String(credentials))
            }
        }
        var host = String(rest)
        var port: UInt32 = 3306
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return .failure(MariaDBURLError("unclosed '[' in the host")) }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = UInt32(after.dropFirst()), p > 0, p < 65536 else { return .failure(MariaDBURLError("the port is not a number 1…65535")) }
                port = p
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = UInt32(host[host.index(after: colon)...]), p > 0, p < 65536 else { return .failure(MariaDBURLError("the port is not a number 1…65535")) }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { return .failure(MariaDBURLError("it names no host")) }
        return .success(MariaDBURL(user: user, password: password, host: host, port: port, database: database))
    }

    private static func decode(_ s: String) -> String {
        guard s.contains("%") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `user@host:port/db` without the password, for messages.
    public var redacted: String { "\(user)@\(host):\(port)" + (database.map { "/" + $0 } ?? "") }
}

/// Why a `url` setting is not a MariaDB URL.
public struct MariaDBURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
