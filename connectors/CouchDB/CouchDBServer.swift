import DeltaConnector

/// Where a CouchDB server is and how to authenticate to it, parsed from a store's `url`
/// (`http[s]://[user[:password]@]host[:port][/prefix]`) and its optional `user`/`password`.
///
/// Invariant: `baseURL` has no credentials and no trailing `/`; credentials, when present, are
/// percent-decoded.
public struct CouchDBServer: Sendable, Equatable {
    /// How requests authenticate: HTTP Basic on every request, or an `AuthSession` cookie from
    /// `POST /_session` (renewed on a 401).
    public enum Auth: String, Sendable, Equatable {
        case basic
        case cookie
    }

    public var baseURL: String
    public var user: String?
    public var password: String?
    public var auth: Auth
    /// A CA bundle for HTTPS servers with a private certificate authority.
    public var caFile: String?

    public init(baseURL: String, user: String?, password: String?, auth: Auth = .basic, caFile: String? = nil) {
        self.baseURL = baseURL
        self.user = user
        self.password = password
        self.auth = auth
        self.caFile = caFile
    }

    /// Parses `url`, or says why it is not an http(s) URL.
    public static func parse(_ url: String, auth: Auth = .basic, caFile: String? = nil) -> Result<CouchDBServer, ParseProblem> {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return .failure(ParseProblem(reason: "it must start with http:// or https://"))
        }
        let schemeEnd = url.range(of: "://")!.upperBound
        let scheme = String(url[..<schemeEnd])
        var rest = Substring(url[schemeEnd...])
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = percentDecoded(info[..<colon])
                password = percentDecoded(info[info.index(after: colon)...])
            } else {
                user = percentDecoded(info)
            }
        }
        guard !rest.isEmpty else { return .failure(ParseProblem(reason: "it names no host")) }
        while path.hasSuffix("/") { path.removeLast() }
        if path.contains("?") || path.contains("#") {
            return .failure(ParseProblem(reason: "it must not have a query or fragment"))
        }
        return .success(CouchDBServer(baseURL: scheme + rest + path, user: user.flatMap { $0.isEmpty ? nil : $0 }, password: password,
                                      auth: auth, caFile: caFile))
    }

    /// Why a URL was refused.
    public struct ParseProblem: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes = [UInt8]()
        var it = Array(text.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
