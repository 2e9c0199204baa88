import CCurl
import DeltaConnector
import DeltaCore

/// One HTTP answer from CouchDB: status code and body bytes.
struct CouchDBResponse: Sendable {
    var status: Int
    var body: [UInt8]

    /// The body parsed as JSON (`.null` for an empty body).
    func json() throws -> Value {
        if body.isEmpty { return .null }
        do {
            return try JSONCodec.parse(bytes: body)
        } catch {
            throw ConnectorError(.transient, "CouchDB answered HTTP \(status) with a body that is not JSON (\(error))")
        }
    }

    /// CouchDB's `{"error","reason"}` as `error: reason`, or the raw body's start.
    var errorText: String {
        if case let .object(o)? = try? JSONCodec.parse(bytes: body), case let .string(e)? = o["error"] {
            if case let .string(r)? = o["reason"] { return "\(e): \(r)" }
            return e
        }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }
}

/// The failure of one HTTP exchange before any answer (connection refused, timeout, TLS).
struct CouchDBTransportError: Error, CustomStringConvertible {
    var code: Int
    var message: String
    var description: String { message }
}

/// A libcurl easy handle bound to one CouchDB server: keeps its connection alive between
/// requests, sends Basic credentials (or an `AuthSession` cookie obtained from `/_session`) and
/// JSON bodies, and collects answers. Blocking: used only from one ``BlockingWorker``.
///
/// Invariant: the handle is used by one thread at a time and freed exactly once (deinit).
final class CouchDBHTTP: @unchecked Sendable {
    let server: CouchDBServer
    private let handle: UnsafeMutableRawPointer
    private var headers: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let emptyBody: UnsafeMutablePointer<UInt8>
    private var loggedIn = false

    /// libcurl's global initialisation, done once per process before the first handle.
    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK

    init(server: CouchDBServer) {
        _ = CouchDBHTTP.globalInit
        self.server = server
        handle = curl_easy_init()
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        emptyBody = .allocate(capacity: 1)
        emptyBody.initialize(to: 0)
        headers = curl_slist_append(nil, "Content-Type: application/json")
        headers = curl_slist_append(headers, "Accept: application/json")
        headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip before bodies
        deltabridge_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headers))
        deltabridge_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        deltabridge_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 5_000)
        deltabridge_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        deltabridge_curl_setopt_string(handle, CURLOPT_COOKIEFILE, "")
        deltabridge_curl_setopt_write(handle, couchDBWriteCallback)
        deltabridge_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
        if let ca = server.caFile { deltabridge_curl_setopt_string(handle, CURLOPT_CAINFO, ca) }
        if server.auth == .basic, let user = server.user {
            deltabridge_curl_setopt_long(handle, CURLOPT_HTTPAUTH, 1)  // CURLAUTH_BASIC
            deltabridge_curl_setopt_string(handle, CURLOPT_USERNAME, user)
            deltabridge_curl_setopt_string(handle, CURLOPT_PASSWORD, server.password ?? "")
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headers)
        errorBuffer.deallocate()
        emptyBody.deallocate()
    }

    /// Sends one request. `path` starts with `/` and is already percent-encoded; `timeout` bounds
    /// the whole exchange (seconds). A 401 with cookie authentication logs in again once.
    func request(_ method: String, _ path: String, body: Value? = nil, timeout: Int = 120) throws -> CouchDBResponse {
        if server.auth == .cookie && !loggedIn && server.user != nil { try login() }
        var response = try perform(method, path, body: body, timeout: timeout)
        if response.status == 401 && server.auth == .cookie && server.user != nil {
            try login()
            response = try perform(method, path, body: body, timeout: timeout)
        }
        return response
    }

    /// `POST /_session` with the configured name and password; curl's cookie engine keeps the
    /// `AuthSession` cookie for later requests.
    private func login() throws {
        let body = Value.object(["name": .string(server.user ?? ""), "password": .string(server.password ?? "")])
        let r = try perform("POST", "/_session", body: body, timeout: 30)
        guard r.status == 200 else {
            throw CouchDBErrors.http(r, server: server, doing: "logging in with a session cookie")
        }
        loggedIn = true
    }

    private func perform(_ method: String, _ path: String, body: Value?, timeout: Int) throws -> CouchDBResponse {
        let url = server.baseURL + path
        let buffer = CouchDBResponseBuffer()
        let unmanaged = Unmanaged.passRetained(buffer)
        defer { unmanaged.release() }
        deltabridge_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        deltabridge_curl_setopt_string(handle, CURLOPT_URL, url)
        deltabridge_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeout * 1_000)
        errorBuffer[0] = 0
        var payload: [UInt8] = []
        if let body {
            do {
                payload = Array(try JSONCodec.serialize(body).utf8)
            } catch {
                throw ConnectorError(.permanent, "a request to CouchDB could not be encoded as JSON: \(error)")
            }
        }
        let code: CURLcode = payload.withUnsafeMutableBytes { bytes in
            if method == "GET" {
                deltabridge_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
                deltabridge_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, nil)
            } else {
                deltabridge_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, bytes.count)
                deltabridge_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, bytes.baseAddress ?? UnsafeMutableRawPointer(emptyBody))
                deltabridge_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
            }
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw CouchDBTransportError(code: Int(code.rawValue), message: text)
        }
        var status = 0
        deltabridge_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return CouchDBResponse(status: status, body: buffer.bytes)
    }

    /// Percent-encodes one path segment (a database name or document id): everything but
    /// unreserved characters, so `/` in an id becomes `%2F`.
    static func segment(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}

/// The bytes of one answer, filled by ``couchDBWriteCallback``.
final class CouchDBResponseBuffer {
    var bytes: [UInt8] = []
}

/// libcurl's write callback: appends the received bytes to the ``CouchDBResponseBuffer`` passed
/// as `CURLOPT_WRITEDATA`.
let couchDBWriteCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, user in
    let n = size * count
    guard let user, let data else { return n }
    let buffer = Unmanaged<CouchDBResponseBuffer>.fromOpaque(user).takeUnretainedValue()
    buffer.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
    return n
}
